"""An encrypted file opens only for its owner's key, only as the file the index says it is, and only unaltered."""
from __future__ import annotations

import dataclasses
import io
import os
import uuid

import pytest

from cloudai_tasks.errors import StorageError
from cloudai_tasks.storage.file_format import (
    MAGIC,
    decrypt_file,
    decrypt_segments,
    encrypt_file,
    parse_header,
    read_header,
    unwrap_data_key,
)
from cloudai_tasks.storage.streaming_aead import StreamingAead
from cloudai_tasks.storage.user_keys import KEMS, MLKEM768_X25519, X25519, generate_user_key

SMALL = 64


@pytest.fixture(scope="module")
def alice():
    return generate_user_key("alice", 1)


def _encrypt(key, plaintext: bytes, file_id: uuid.UUID, segment_size: int = SMALL) -> bytes:
    out = io.BytesIO()
    sizes = encrypt_file(io.BytesIO(plaintext), out, key.recipient, file_id, segment_size=segment_size)
    assert sizes.ciphertext_size == len(out.getvalue()) and sizes.plaintext_size == len(plaintext)
    return out.getvalue()


def _decrypt(ciphertext: bytes, keys, user: str, file_id: uuid.UUID) -> bytes:
    return b"".join(decrypt_segments(io.BytesIO(ciphertext), keys, user=user, file_id=file_id))


@pytest.mark.parametrize("kem", KEMS)
def test_round_trip_for_each_kem(kem):
    key = generate_user_key("bob", 3, kem)
    file_id = uuid.uuid4()
    for size in (0, 1, 200):
        plaintext = os.urandom(size)
        ciphertext = _encrypt(key, plaintext, file_id)
        assert ciphertext.startswith(MAGIC)
        assert _decrypt(ciphertext, key, "bob", file_id) == plaintext
        assert _decrypt(ciphertext, lambda version: {3: key}[version], "bob", file_id) == plaintext
        sink = io.BytesIO()
        assert decrypt_file(io.BytesIO(ciphertext), sink, key, user="bob", file_id=file_id) == size
        assert sink.getvalue() == plaintext
    header = read_header(io.BytesIO(ciphertext), user="bob", file_id=file_id)
    assert (header.user, header.key_version, header.kem, header.segment_size) == ("bob", 3, kem, SMALL)


def test_every_header_byte_is_authenticated(alice):
    file_id = uuid.uuid4()
    plaintext = os.urandom(150)
    ciphertext = _encrypt(alice, plaintext, file_id)
    header_size = read_header(io.BytesIO(ciphertext), user="alice", file_id=file_id).size
    for pos in range(header_size):
        for bit in (0, 3, 7):
            bad = bytearray(ciphertext)
            bad[pos] ^= 1 << bit
            with pytest.raises(StorageError):
                _decrypt(bytes(bad), alice, "alice", file_id)


def test_flipped_bits_in_segments_and_tags_and_truncation_fail(alice):
    file_id = uuid.uuid4()
    plaintext = os.urandom(200)
    ciphertext = _encrypt(alice, plaintext, file_id)
    header_size = read_header(io.BytesIO(ciphertext), user="alice", file_id=file_id).size
    for pos in range(header_size, len(ciphertext)):
        bad = bytearray(ciphertext)
        bad[pos] ^= 0x80
        with pytest.raises(StorageError):
            _decrypt(bytes(bad), alice, "alice", file_id)
    boundaries = [0, 5, header_size, header_size + 40] + list(range(header_size + SMALL, len(ciphertext), SMALL))
    for cut in boundaries + [len(ciphertext) - 1]:
        with pytest.raises(StorageError):
            _decrypt(ciphertext[:cut], alice, "alice", file_id)


def test_a_header_or_whole_file_from_another_file_fails(alice):
    a_id, b_id = uuid.uuid4(), uuid.uuid4()
    a = _encrypt(alice, b"A" * 150, a_id)
    b = _encrypt(alice, b"B" * 150, b_id)
    size = read_header(io.BytesIO(a), user="alice", file_id=a_id).size
    with pytest.raises(StorageError, match="another file"):
        _decrypt(a, alice, "alice", b_id)  # file A served where the index expects B
    with pytest.raises(StorageError):
        _decrypt(a[:size] + b[size:], alice, "alice", a_id)  # A's header on B's body
    with pytest.raises(StorageError):
        _decrypt(b[:size] + a[size:], alice, "alice", b_id)


def test_a_header_rewritten_to_claim_another_identity_fails(alice):
    """Editing the file id in the header to match the index still fails: the data key is bound to the id."""
    a_id, b_id = uuid.uuid4(), uuid.uuid4()
    ciphertext = _encrypt(alice, b"A" * 150, a_id)
    forged = ciphertext.replace(a_id.bytes, b_id.bytes, 1)
    with pytest.raises(StorageError, match="does not open"):
        _decrypt(forged, alice, "alice", b_id)


def test_wrong_user_key_or_version_fails(alice):
    file_id = uuid.uuid4()
    ciphertext = _encrypt(alice, b"secret", file_id)
    with pytest.raises(StorageError, match="was given"):
        _decrypt(ciphertext, generate_user_key("mallory", 1), "alice", file_id)
    with pytest.raises(StorageError, match="was given"):
        _decrypt(ciphertext, generate_user_key("alice", 2), "alice", file_id)
    with pytest.raises(StorageError, match="does not open"):
        _decrypt(ciphertext, generate_user_key("alice", 1), "alice", file_id)  # same name and version, other key
    with pytest.raises(StorageError, match="was given"):
        _decrypt(ciphertext, generate_user_key("alice", 1, MLKEM768_X25519), "alice", file_id)


def test_a_public_key_cannot_decrypt(alice):
    file_id = uuid.uuid4()
    ciphertext = _encrypt(alice, b"secret", file_id)
    with pytest.raises(TypeError, match="Recipient"):
        _decrypt(ciphertext, alice.recipient, "alice", file_id)


def test_garbage_and_foreign_files_are_refused_clearly():
    for data, message in ((b"", "truncated"), (MAGIC[:5], "truncated"), (b"PK\x03\x04" + bytes(60), "bad magic"),
                          (MAGIC + b"\x02" + bytes(40), "version 2"), (MAGIC + b"\x01\xff\xff", "out of range")):
        with pytest.raises(StorageError, match=message):
            read_header(io.BytesIO(data), user="alice", file_id=uuid.uuid4())
    with pytest.raises(StorageError):
        parse_header(MAGIC + b"\x01\x00\x0d" + b"\x00\x20")


def test_segment_size_in_a_forged_header_is_bounded(alice):
    """A header cannot make the reader allocate an arbitrary buffer: its segment size is range-checked."""
    file_id = uuid.uuid4()
    ciphertext = bytearray(_encrypt(alice, b"x", file_id))
    ciphertext[13:17] = (1 << 30).to_bytes(4, "big")  # segment size field
    with pytest.raises(StorageError, match="segment size"):
        _decrypt(bytes(ciphertext), alice, "alice", file_id)


def test_default_is_x25519_and_public_material_only_in_recipient(alice):
    assert alice.kem == X25519
    assert "public_bytes" not in repr(alice.recipient) and "_raw" not in repr(alice)


def test_the_segment_stream_is_bound_to_the_exact_header_bytes(alice):
    """Even with the right data key, the body decrypts only under the header it was written with."""
    file_id = uuid.uuid4()
    ciphertext = _encrypt(alice, b"body" * 40, file_id)
    src = io.BytesIO(ciphertext)
    header = read_header(src, user="alice", file_id=file_id)
    body = src.read()
    stream = StreamingAead(unwrap_data_key(header, alice), segment_size=SMALL)
    assert b"".join(stream.decrypt_segments(io.BytesIO(body), header.raw)) == b"body" * 40
    for other in (b"", header.raw[:-1] + bytes([header.raw[-1] ^ 1])):
        with pytest.raises(StorageError, match="segment 0"):
            list(stream.decrypt_segments(io.BytesIO(body), other))


def test_the_data_key_is_bound_to_the_files_identity(alice):
    """The HPKE-sealed data key opens only for the identity it was sealed to (user, file id, key version)."""
    file_id = uuid.uuid4()
    header = read_header(io.BytesIO(_encrypt(alice, b"x", file_id)), user="alice", file_id=file_id)
    assert len(unwrap_data_key(header, alice)) == 32
    with pytest.raises(StorageError, match="does not open"):
        unwrap_data_key(dataclasses.replace(header, file_id=uuid.uuid4()), alice)
    bob = generate_user_key("bob", 1)
    moved = dataclasses.replace(header, user="bob")
    with pytest.raises(StorageError, match="does not open"):
        unwrap_data_key(moved, bob)
