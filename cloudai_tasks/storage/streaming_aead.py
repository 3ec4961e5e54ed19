"""Streaming AES-256-GCM in Tink's ``AES256_GCM_HKDF_1MB`` layout, so files of any size fit in bounded memory.

``cryptography`` has no streaming AEAD and its AES-GCM refuses inputs over 2 GiB, so a stream is cut into
segments, each sealed by ``AESGCM`` on its own. The layout is Tink's, byte for byte, which lets Tink check us:

* stream header (40 bytes): ``0x28`` (the header length), a 32-byte random salt, a 7-byte random nonce prefix;
* segment key: HKDF-SHA256(ikm=key, salt=salt, info=associated data), 32 bytes — fresh per stream;
* segment ``i`` nonce: prefix ‖ ``i`` as 4-byte big-endian ‖ ``0x01`` if it is the last segment else ``0x00``;
* ciphertext segments of ``segment_size`` bytes (1 MiB) including their 16-byte tag, the first one shorter by
  the header; every segment but the last is full, and an empty plaintext is one empty last segment.

Because the segment number and the last-segment flag are in the nonce, reordering, dropping, duplicating or
truncating segments, or splicing segments of another stream, all fail authentication.

Streaming contract for decryption: ``decrypt_segments`` yields a segment's plaintext only after that
segment's tag verified, in order. It does not (cannot) know that the stream is *complete* until it reaches
an authentic last segment, so it may yield the first segments of a stream and then raise StorageError (a
truncated or altered tail). A caller streaming plaintext to a user must therefore treat the transfer as
failed unless the iterator finished normally: abort the response without its normal ending (so the client
sees a broken transfer), and never label or keep what was sent as the file. ``decrypt`` to a file object has
the same contract; use ``file_store`` to decrypt to a path, which renames into place only on success.
"""
from __future__ import annotations

import os
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import StorageError

KEY_SIZE = 32
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
HEADER_SIZE = 1 + SALT_SIZE + NONCE_PREFIX_SIZE
SEGMENT_SIZE = 1 << 20
MIN_SEGMENT_SIZE = HEADER_SIZE + TAG_SIZE + 1
#: Upper bound accepted when the segment size comes from a file, so a forged header cannot demand a huge buffer.
MAX_SEGMENT_SIZE = 16 << 20
_MAX_SEGMENTS = 1 << 32


class PlaintextObserver(Protocol):
    """Anything with ``update(buffer)`` — typically ``hashlib.sha256()`` — that sees the plaintext in order."""

    def update(self, data: memoryview, /) -> object: ...


@dataclass(frozen=True)
class StreamSizes:
    plaintext_size: int
    ciphertext_size: int


class StreamingAead:
    """One 32-byte key; encrypts and decrypts whole streams with a fresh salt and nonce prefix each time."""

    def __init__(self, key: bytes, *, segment_size: int = SEGMENT_SIZE) -> None:
        if len(key) != KEY_SIZE:
            raise StorageError(f"a streaming AEAD key must be {KEY_SIZE} bytes")
        check_segment_size(segment_size)
        self._key = bytes(key)
        self.segment_size = segment_size

    def __repr__(self) -> str:
        return f"StreamingAead(segment_size={self.segment_size})"

    def _segment_cipher(self, salt: bytes, associated_data: bytes) -> AESGCM:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=associated_data)
        return AESGCM(hkdf.derive(self._key))

    def encrypt(
        self,
        src: BinaryIO,
        dst: BinaryIO,
        associated_data: bytes = b"",
        *,
        observer: PlaintextObserver | None = None,
    ) -> StreamSizes:
        """Read ``src`` to its end and write the ciphertext stream to ``dst``; return both sizes.

        ``observer.update`` gets every plaintext segment in order. It runs in a helper thread, in parallel with
        reading, encrypting and writing, because SHA-256 is several times slower than AES-GCM here; the segment
        buffer is not reused before the observer has finished with it. ``dst`` is not flushed or closed.
        """
        salt, prefix = os.urandom(SALT_SIZE), os.urandom(NONCE_PREFIX_SIZE)
        cipher = self._segment_cipher(salt, associated_data)
        write_all(dst, memoryview(bytes([HEADER_SIZE]) + salt + prefix))
        pt_size = self.segment_size - TAG_SIZE
        bufs = (memoryview(bytearray(pt_size)), memoryview(bytearray(pt_size)))
        out = memoryview(bytearray(self.segment_size))
        helper: ThreadPoolExecutor | None = None
        pending: Future | None = None
        cur = bufs[0][: read_full(src, bufs[0][: pt_size - HEADER_SIZE])]
        index, plaintext_size, ciphertext_size = 0, 0, HEADER_SIZE
        try:
            while True:
                if observer is not None:
                    if index == 0:
                        observer.update(cur)
                    else:
                        helper = helper or ThreadPoolExecutor(1, thread_name_prefix="cloudai-hash")
                        pending = helper.submit(observer.update, cur)
                last = len(cur) < (pt_size - HEADER_SIZE if index == 0 else pt_size)
                nxt = bufs[(index + 1) % 2]
                n = 0 if last else read_full(src, nxt)
                last = last or n == 0
                sealed = out[: len(cur) + TAG_SIZE]
                cipher.encrypt_into(_nonce(prefix, index, last), cur, None, sealed)
                write_all(dst, sealed)
                plaintext_size += len(cur)
                ciphertext_size += len(sealed)
                if pending is not None:
                    pending.result()
                    pending = None
                if last:
                    return StreamSizes(plaintext_size, ciphertext_size)
                index += 1
                if index >= _MAX_SEGMENTS:
                    raise StorageError("stream is too long for one file (2^32 segments); split it")
                cur = nxt[:n]
        finally:
            if pending is not None:
                pending.cancel()
            if helper is not None:
                helper.shutdown(wait=True)

    def decrypt_segments(self, src: BinaryIO, associated_data: bytes = b"") -> Iterator[bytes]:
        """Yield each segment's plaintext once it authenticated; raise StorageError at the first bad one.

        See the module docstring: a stream that raises part-way has yielded authentic but incomplete data.
        """
        yield from self._decrypt(src, associated_data, reuse=False)  # type: ignore[misc]

    def decrypt(self, src: BinaryIO, dst: BinaryIO, associated_data: bytes = b"") -> int:
        """Decrypt ``src`` into ``dst`` segment by segment; return the plaintext size (same contract as above)."""
        total = 0
        for view in self._decrypt(src, associated_data, reuse=True):
            write_all(dst, view)
            total += len(view)
        return total

    def _decrypt(self, src: BinaryIO, associated_data: bytes, *, reuse: bool) -> Iterator[bytes | memoryview]:
        header = read_full_bytes(src, HEADER_SIZE)
        if len(header) < HEADER_SIZE:
            raise StorageError("encrypted stream is truncated inside its header; the file is damaged")
        if header[0] != HEADER_SIZE:
            raise StorageError("encrypted stream has an unknown header; it was not written by this format")
        salt, prefix = header[1 : 1 + SALT_SIZE], header[1 + SALT_SIZE :]
        cipher = self._segment_cipher(salt, associated_data)
        buf = memoryview(bytearray(self.segment_size + 1))
        out = memoryview(bytearray(self.segment_size - TAG_SIZE)) if reuse else None
        index, carry = 0, 0
        while True:
            want = self.segment_size - (HEADER_SIZE if index == 0 else 0)
            got = carry + read_full(src, buf[carry : want + 1])
            last = got <= want
            segment = buf[: min(got, want)]
            if len(segment) < TAG_SIZE:
                raise StorageError(
                    f"encrypted stream is truncated at segment {index}; the file is damaged or incomplete"
                )
            nonce = _nonce(prefix, index, last)
            try:
                if out is None:
                    plain: bytes | memoryview = cipher.decrypt(nonce, segment, None)
                else:
                    plain = out[: len(segment) - TAG_SIZE]
                    cipher.decrypt_into(nonce, segment, None, plain)
            except InvalidTag:
                raise StorageError(
                    f"segment {index} of the encrypted stream failed authentication: the file was altered, "
                    f"truncated or reordered, belongs to another file, or the key is wrong"
                ) from None
            yield plain
            if last:
                return
            buf[0] = buf[want]
            carry = 1
            index += 1
            if index >= _MAX_SEGMENTS:
                raise StorageError("encrypted stream has more than 2^32 segments; the file is damaged")


def check_segment_size(segment_size: int) -> int:
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise StorageError(f"segment size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes")
    return segment_size


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def read_full(src: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``src`` until it is full or ``src`` ends; short reads (pipes, raw files) are retried."""
    total = 0
    readinto = getattr(src, "readinto", None)
    while total < len(view):
        if readinto is not None:
            n = readinto(view[total:])
        else:
            chunk = src.read(len(view) - total)
            n = len(chunk) if chunk is not None else None
            if n:
                view[total : total + n] = chunk
        if n is None:
            raise StorageError("source stream is non-blocking and had no data; pass a blocking file object")
        if n == 0:
            break
        total += n
    return total


def write_all(dst: BinaryIO, view: memoryview) -> None:
    """Write all of ``view``: raw file objects may accept only part of a write."""
    while view:
        n = dst.write(view)
        if n is None:
            raise StorageError("destination stream is non-blocking and took no data; pass a blocking file object")
        view = view[n:]


def read_full_bytes(src: BinaryIO, size: int) -> bytes:
    buf = bytearray(size)
    return bytes(buf[: read_full(src, memoryview(buf))])
