"""One encrypted result file: our header, then a Tink-layout segment stream authenticated with that header.

Layout (integers big-endian)::

    magic "CLDAIENC" | format version u8 (=1) | header length u16 | HPKE KEM id u16 | segment size u32
    | key version u32 | file id (16 bytes, UUID) | user length u8 | user (ASCII)
    | wrapped key length u16 | HPKE(enc ‖ sealed 32-byte data key)
    | streaming AES-256-GCM of the plaintext (``streaming_aead``) with associated data = all header bytes

Each file has a fresh random data key, sealed with HPKE (KEM from the user's key, HKDF-SHA256, AES-256-GCM)
to the owner's public key with ``info`` = (user, file id, key version, KEM). Decryption takes the identity
the *index* expects (user, file id) and rebuilds ``info`` from it, so a header copied from another file or
user fails before a byte is decrypted; the segment stream authenticates the header bytes, so any edit of
the header fails too. Every failure — bad magic, truncation, altered bit, swapped segment, foreign header,
wrong key — is a StorageError; none of them yields plaintext, except as documented in ``streaming_aead``
for callers that stream segments onward.
"""
from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Union

from cryptography.exceptions import InvalidTag

from ..errors import SecurityError, StorageError
from .binding import bind
from .streaming_aead import (
    KEY_SIZE,
    SEGMENT_SIZE,
    PlaintextObserver,
    StreamingAead,
    check_segment_size,
    read_full_bytes,
    write_all,
)
from .user_keys import MLKEM768_X25519, X25519, Recipient, UserPrivateKey, check_user, hpke_suite

MAGIC = b"CLDAIENC"
FORMAT_VERSION = 1
MAX_HEADER_SIZE = 4096
_PREAMBLE = struct.Struct(">8sBH")
_FIXED = struct.Struct(">HII16s")
_KEM_IDS = {X25519: 0x0020, MLKEM768_X25519: 0x647A}
_KEM_NAMES = {v: k for k, v in _KEM_IDS.items()}

KeySource = Union[UserPrivateKey, Callable[[int], UserPrivateKey]]


@dataclass(frozen=True)
class FileHeader:
    """A parsed header. Parsing proves nothing; ``decrypt_*`` authenticate it."""

    user: str
    file_id: uuid.UUID
    key_version: int
    kem: str
    segment_size: int
    wrapped_key: bytes = field(repr=False)
    raw: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class EncryptedSizes:
    plaintext_size: int
    ciphertext_size: int


def _info(user: str, file_id: uuid.UUID, key_version: int, kem: str) -> bytes:
    return bind("cloudai file key v1", user, file_id.bytes, key_version, kem)


def _build_header(recipient: Recipient, file_id: uuid.UUID, segment_size: int, wrapped: bytes) -> bytes:
    user = recipient.user.encode()
    body = (
        _FIXED.pack(_KEM_IDS[recipient.kem], segment_size, recipient.version, file_id.bytes)
        + bytes([len(user)]) + user
        + struct.pack(">H", len(wrapped)) + wrapped
    )
    return _PREAMBLE.pack(MAGIC, FORMAT_VERSION, _PREAMBLE.size + len(body)) + body


def encrypt_file(
    src: BinaryIO,
    dst: BinaryIO,
    recipient: Recipient,
    file_id: uuid.UUID,
    *,
    observer: PlaintextObserver | None = None,
    segment_size: int = SEGMENT_SIZE,
) -> EncryptedSizes:
    """Encrypt ``src`` for ``recipient`` into ``dst`` (header + stream); needs only the public key."""
    if not isinstance(recipient, Recipient):
        raise TypeError("encrypt_file needs a Recipient (a public key)")
    check_segment_size(segment_size)
    data_key = os.urandom(KEY_SIZE)
    info = _info(recipient.user, file_id, recipient.version, recipient.kem)
    wrapped = hpke_suite(recipient.kem).encrypt(data_key, recipient.hpke_public_key(), info=info)
    header = _build_header(recipient, file_id, segment_size, wrapped)
    write_all(dst, memoryview(header))
    sizes = StreamingAead(data_key, segment_size=segment_size).encrypt(src, dst, header, observer=observer)
    return EncryptedSizes(sizes.plaintext_size, len(header) + sizes.ciphertext_size)


def _check_preamble(raw: bytes) -> None:
    if len(raw) < _PREAMBLE.size or raw[: len(MAGIC)] != MAGIC:
        raise StorageError("not a CloudAI encrypted file (bad magic); it was not written by this store")
    version = raw[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise StorageError(f"encrypted file format version {version} is not supported (this code reads {FORMAT_VERSION})")


def parse_header(raw: bytes) -> FileHeader:
    """Parse complete header bytes strictly: known magic and version, no missing or trailing bytes."""
    _check_preamble(raw)
    length = _PREAMBLE.unpack_from(raw)[2]
    try:
        kem_id, segment_size, key_version, file_id = _FIXED.unpack_from(raw, _PREAMBLE.size)
        pos = _PREAMBLE.size + _FIXED.size
        user_bytes = raw[pos + 1 : pos + 1 + raw[pos]]
        pos += 1 + raw[pos]
        (wrapped_len,) = struct.unpack_from(">H", raw, pos)
    except (struct.error, IndexError):
        raise StorageError("encrypted file header is truncated; the file is damaged") from None
    wrapped = raw[pos + 2 : pos + 2 + wrapped_len]
    if length != len(raw) or pos + 2 + wrapped_len != len(raw):
        raise StorageError("encrypted file header has inconsistent field lengths; the file is damaged")
    if kem_id not in _KEM_NAMES:
        raise StorageError(f"encrypted file uses unknown KEM id {kem_id:#06x}; the file is damaged")
    check_segment_size(segment_size)
    try:
        user = check_user(user_bytes.decode("ascii"))
    except (UnicodeDecodeError, SecurityError):
        raise StorageError("encrypted file header names an invalid user; the file is damaged") from None
    return FileHeader(user, uuid.UUID(bytes=file_id), key_version, _KEM_NAMES[kem_id], segment_size, wrapped, bytes(raw))


def read_header(src: BinaryIO, *, user: str, file_id: uuid.UUID) -> FileHeader:
    """Read and parse the header at the start of ``src``; it must be the file the index says it is."""
    preamble = read_full_bytes(src, _PREAMBLE.size)
    if len(preamble) < _PREAMBLE.size:
        raise StorageError("encrypted file is truncated inside its header; the file is damaged")
    _check_preamble(preamble)
    length = _PREAMBLE.unpack(preamble)[2]
    if not _PREAMBLE.size < length <= MAX_HEADER_SIZE:
        raise StorageError("encrypted file header length is out of range; the file is damaged")
    header = parse_header(preamble + read_full_bytes(src, length - _PREAMBLE.size))
    if header.user != user or header.file_id != file_id:
        raise StorageError(
            f"encrypted file header belongs to another file (user {header.user!r}, file {header.file_id}) "
            f"than the one requested (user {user!r}, file {file_id}); the stored file was swapped or moved"
        )
    return header


def unwrap_data_key(header: FileHeader, private_key: UserPrivateKey) -> bytes:
    """Open the HPKE-sealed data key; fails unless the key is the owner's, of the header's version."""
    if not isinstance(private_key, UserPrivateKey):
        raise TypeError("decryption needs the user's UserPrivateKey; a Recipient (public key) cannot decrypt")
    if (private_key.user, private_key.version, private_key.kem) != (header.user, header.key_version, header.kem):
        raise StorageError(
            f"file {header.file_id} is encrypted to {header.user!r} key v{header.key_version} ({header.kem}), "
            f"but key v{private_key.version} of {private_key.user!r} ({private_key.kem}) was given"
        )
    info = _info(header.user, header.file_id, header.key_version, header.kem)
    try:
        return hpke_suite(header.kem).decrypt(header.wrapped_key, private_key.hpke_private_key(), info=info)
    except (InvalidTag, ValueError):
        raise StorageError(
            f"the data key of file {header.file_id} does not open with {header.user!r} key v{header.key_version}: "
            f"the header was altered or the key is not the one the file was encrypted to"
        ) from None


def _stream(header: FileHeader, keys: KeySource) -> StreamingAead:
    key = keys(header.key_version) if callable(keys) else keys
    return StreamingAead(unwrap_data_key(header, key), segment_size=header.segment_size)


def decrypt_segments(src: BinaryIO, keys: KeySource, *, user: str, file_id: uuid.UUID) -> Iterator[bytes]:
    """Check header, identity and key now, then return an iterator of authenticated plaintext segments.

    Errors found before any plaintext (wrong file, wrong key, altered header) raise here, so a server can still
    answer with an error status; the iterator itself raises StorageError part-way on a damaged body.
    """
    header = read_header(src, user=user, file_id=file_id)
    return _stream(header, keys).decrypt_segments(src, header.raw)


def decrypt_file(src: BinaryIO, dst: BinaryIO, keys: KeySource, *, user: str, file_id: uuid.UUID) -> int:
    """Decrypt into the file object ``dst``; on StorageError ``dst`` holds a prefix and must be discarded."""
    header = read_header(src, user=user, file_id=file_id)
    return _stream(header, keys).decrypt(src, dst, header.raw)
