"""Our segment stream is Tink's AES256_GCM_HKDF_1MB, byte for byte: each side decrypts what the other wrote."""
from __future__ import annotations

import io
import os
import uuid

import pytest
import tink
from tink import secret_key_access, streaming_aead
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2

from cloudai_tasks.errors import StorageError
from cloudai_tasks.storage.file_format import encrypt_file, read_header, unwrap_data_key
from cloudai_tasks.storage.streaming_aead import HEADER_SIZE, SEGMENT_SIZE, TAG_SIZE, StreamingAead
from cloudai_tasks.storage.user_keys import generate_user_key

FIRST = SEGMENT_SIZE - HEADER_SIZE - TAG_SIZE
SIZES = [0, 1, 5000, FIRST - 1, FIRST, FIRST + 1, FIRST + SEGMENT_SIZE - TAG_SIZE, 2 * SEGMENT_SIZE + 12345]
AD = b"associated data"


def _tink_primitive(raw_key: bytes):
    streaming_aead.register()
    key = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(
        version=0,
        key_value=raw_key,
        params=aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
            ciphertext_segment_size=SEGMENT_SIZE, derived_key_size=32, hkdf_hash_type=common_pb2.SHA256
        ),
    )
    keyset = tink_pb2.Keyset(
        primary_key_id=1,
        key=[
            tink_pb2.Keyset.Key(
                key_data=tink_pb2.KeyData(
                    type_url="type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey",
                    value=key.SerializeToString(),
                    key_material_type=tink_pb2.KeyData.SYMMETRIC,
                ),
                status=tink_pb2.ENABLED,
                key_id=1,
                output_prefix_type=tink_pb2.RAW,
            )
        ],
    )
    handle = tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)
    return handle.primitive(streaming_aead.StreamingAead)


class _KeepOnClose(io.BytesIO):
    """Tink's encrypting stream closes its destination; keep the bytes."""

    def close(self) -> None:
        self.kept = self.getvalue()
        super().close()


def _tink_encrypt(primitive, plaintext: bytes, ad: bytes) -> bytes:
    dst = _KeepOnClose()
    with primitive.new_encrypting_stream(dst, ad) as stream:
        stream.write(plaintext)
    return dst.kept


def _tink_decrypt(primitive, ciphertext: bytes, ad: bytes) -> bytes:
    with primitive.new_decrypting_stream(io.BytesIO(ciphertext), ad) as stream:
        return stream.read()


@pytest.fixture(scope="module")
def raw_key():
    return os.urandom(32)


@pytest.fixture(scope="module")
def tink_aead(raw_key):
    return _tink_primitive(raw_key)


@pytest.mark.parametrize("size", SIZES)
def test_we_decrypt_what_tink_wrote(raw_key, tink_aead, size):
    plaintext = os.urandom(size)
    ciphertext = _tink_encrypt(tink_aead, plaintext, AD)
    assert b"".join(StreamingAead(raw_key).decrypt_segments(io.BytesIO(ciphertext), AD)) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_tink_decrypts_what_we_wrote(raw_key, tink_aead, size):
    plaintext = os.urandom(size)
    out = io.BytesIO()
    StreamingAead(raw_key).encrypt(io.BytesIO(plaintext), out, AD)
    assert len(out.getvalue()) == len(_tink_encrypt(tink_aead, plaintext, AD))
    assert _tink_decrypt(tink_aead, out.getvalue(), AD) == plaintext


def test_tink_decrypts_a_stored_file_given_its_data_key_and_header():
    """A whole file of ours is our header followed by a Tink stream whose associated data is that header."""
    key = generate_user_key("alice")
    file_id = uuid.uuid4()
    plaintext = os.urandom(SEGMENT_SIZE + 777)
    out = io.BytesIO()
    encrypt_file(io.BytesIO(plaintext), out, key.recipient, file_id)
    src = io.BytesIO(out.getvalue())
    header = read_header(src, user="alice", file_id=file_id)
    tink_aead = _tink_primitive(unwrap_data_key(header, key))
    assert _tink_decrypt(tink_aead, src.read(), header.raw) == plaintext


def test_a_tink_stream_altered_by_one_bit_is_refused_by_us(raw_key, tink_aead):
    ciphertext = bytearray(_tink_encrypt(tink_aead, os.urandom(SEGMENT_SIZE + 10), AD))
    ciphertext[SEGMENT_SIZE + 3] ^= 0x10
    with pytest.raises(StorageError):
        list(StreamingAead(raw_key).decrypt_segments(io.BytesIO(bytes(ciphertext)), AD))
