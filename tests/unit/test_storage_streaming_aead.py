"""Streaming AES-256-GCM: every size round-trips; any change, truncation or reordering fails, and nothing
unauthenticated is ever handed to the caller."""
from __future__ import annotations

import hashlib
import io
import os

import pytest

from cloudai_tasks.errors import StorageError
from cloudai_tasks.storage.streaming_aead import HEADER_SIZE, SEGMENT_SIZE, TAG_SIZE, StreamingAead

SMALL = 64  # ciphertext segment size for the tamper tests: 8 bytes of plaintext in the first segment, 48 after
AD = b"header bytes of the file"


def _sizes(segment: int) -> list[int]:
    first = segment - TAG_SIZE - HEADER_SIZE
    body = segment - TAG_SIZE
    return [0, 1, first - 1, first, first + 1, first + body - 1, first + body, first + body + 1, first + 3 * body + 5]


def _encrypt(aead: StreamingAead, plaintext: bytes, ad: bytes = AD) -> bytes:
    out = io.BytesIO()
    aead.encrypt(io.BytesIO(plaintext), out, ad)
    return out.getvalue()


def _boundaries(segment: int, ciphertext_size: int) -> list[int]:
    """Offsets where each segment ends: the header, then the first segment, then every full one."""
    ends, pos = [HEADER_SIZE], segment
    while pos < ciphertext_size:
        ends.append(pos)
        pos += segment
    return ends


@pytest.mark.parametrize("segment", [SMALL, 100, SEGMENT_SIZE])
def test_round_trip_at_and_around_segment_boundaries(segment):
    aead = StreamingAead(os.urandom(32), segment_size=segment)
    for size in _sizes(segment):
        plaintext = os.urandom(size)
        out = io.BytesIO()
        digest = hashlib.sha256()
        sizes = aead.encrypt(io.BytesIO(plaintext), out, AD, observer=digest)
        ciphertext = out.getvalue()
        segments = max(1, -(-(size + HEADER_SIZE) // (segment - TAG_SIZE)))
        assert len(ciphertext) == sizes.ciphertext_size == HEADER_SIZE + size + segments * TAG_SIZE, size
        assert sizes.plaintext_size == size and digest.digest() == hashlib.sha256(plaintext).digest()
        assert b"".join(aead.decrypt_segments(io.BytesIO(ciphertext), AD)) == plaintext
        sink = io.BytesIO()
        assert aead.decrypt(io.BytesIO(ciphertext), sink, AD) == size and sink.getvalue() == plaintext


def test_short_reads_and_short_writes_are_retried():
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = memoryview(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            n = min(len(b), 7, len(self.data))
            b[:n], self.data = self.data[:n], self.data[n:]
            return n

    class Sip(io.BytesIO):
        def write(self, b) -> int:
            return super().write(bytes(b[:5]))

    aead = StreamingAead(os.urandom(32), segment_size=SMALL)
    plaintext = os.urandom(1000)
    ciphertext = Sip()
    aead.encrypt(Trickle(plaintext), ciphertext, AD)
    assert len(ciphertext.getvalue()) == HEADER_SIZE + 1000 + 22 * TAG_SIZE  # ceil((40 + 1000) / 48) segments
    assert b"".join(aead.decrypt_segments(Trickle(ciphertext.getvalue()), AD)) == plaintext
    restored = Sip()
    assert aead.decrypt(Trickle(ciphertext.getvalue()), restored, AD) == 1000 and restored.getvalue() == plaintext


def test_each_encryption_uses_a_fresh_salt_and_nonce_prefix():
    aead = StreamingAead(os.urandom(32), segment_size=SMALL)
    a, b = _encrypt(aead, b"same"), _encrypt(aead, b"same")
    assert a[:HEADER_SIZE] != b[:HEADER_SIZE] and a[HEADER_SIZE:] != b[HEADER_SIZE:]


def _assert_fails_with_authentic_prefix_only(aead: StreamingAead, ciphertext: bytes, plaintext: bytes, ad=AD):
    """Decryption raises, and what was yielded before is a prefix of the true plaintext, segment-aligned."""
    yielded = []
    with pytest.raises(StorageError):
        for chunk in aead.decrypt_segments(io.BytesIO(ciphertext), ad):
            yielded.append(chunk)
    got = b"".join(yielded)
    assert plaintext.startswith(got)
    return got


def test_any_flipped_bit_fails_and_yields_nothing_unauthenticated():
    aead = StreamingAead(os.urandom(32), segment_size=SMALL)
    plaintext = os.urandom(300)
    ciphertext = _encrypt(aead, plaintext)
    for pos in range(len(ciphertext)):
        for bit in (0, 7):
            bad = bytearray(ciphertext)
            bad[pos] ^= 1 << bit
            got = _assert_fails_with_authentic_prefix_only(aead, bytes(bad), plaintext)
            index = 0 if pos < SMALL else 1 + (pos - SMALL) // SMALL  # segment holding the flipped bit
            authentic_before = max(0, SMALL - HEADER_SIZE - TAG_SIZE + (index - 1) * (SMALL - TAG_SIZE))
            assert len(got) == authentic_before, pos


def test_truncation_at_every_segment_boundary_and_inside_segments_fails():
    aead = StreamingAead(os.urandom(32), segment_size=SMALL)
    plaintext = os.urandom(300)
    ciphertext = _encrypt(aead, plaintext)
    cuts = set(_boundaries(SMALL, len(ciphertext))) | {0, 1, HEADER_SIZE - 1, len(ciphertext) - 1, len(ciphertext) - TAG_SIZE}
    assert len(_boundaries(SMALL, len(ciphertext))) >= 6
    for cut in sorted(cuts):
        _assert_fails_with_authentic_prefix_only(aead, ciphertext[:cut], plaintext)


def test_truncating_a_file_that_ends_exactly_on_a_boundary_fails():
    aead = StreamingAead(os.urandom(32), segment_size=SMALL)
    plaintext = os.urandom(_sizes(SMALL)[6])  # first + one full body segment: no short last segment
    ciphertext = _encrypt(aead, plaintext)
    assert len(ciphertext) == 2 * SMALL
    _assert_fails_with_authentic_prefix_only(aead, ciphertext[:SMALL], plaintext)


def test_swapped_duplicated_dropped_or_appended_segments_fail():
    aead = StreamingAead(os.urandom(32), segment_size=SMALL)
    plaintext = os.urandom(300)
    ct = _encrypt(aead, plaintext)
    seg = [ct[i : i + SMALL] for i in range(SMALL, len(ct), SMALL)]
    head = ct[:SMALL]
    variants = {
        "swapped": head + seg[1] + seg[0] + b"".join(seg[2:]),
        "duplicated": head + seg[0] + seg[0] + b"".join(seg[1:]),
        "dropped": head + b"".join(seg[1:]),
        "last made middle": head + b"".join(seg) + seg[-1],
        "appended byte": ct + b"\0",
    }
    for name, bad in variants.items():
        assert bad != ct, name
        _assert_fails_with_authentic_prefix_only(aead, bad, plaintext)


def test_segments_spliced_from_another_stream_fail():
    aead = StreamingAead(os.urandom(32), segment_size=SMALL)
    a_plain, b_plain = os.urandom(300), os.urandom(300)
    a, b = _encrypt(aead, a_plain), _encrypt(aead, b_plain)
    _assert_fails_with_authentic_prefix_only(aead, a[:2 * SMALL] + b[2 * SMALL:], a_plain)
    _assert_fails_with_authentic_prefix_only(aead, b[:HEADER_SIZE] + a[HEADER_SIZE:], a_plain)


def test_wrong_key_or_associated_data_fails_before_any_plaintext():
    key = os.urandom(32)
    ct = _encrypt(StreamingAead(key, segment_size=SMALL), b"secret" * 50)
    wrong_key, right_key = StreamingAead(os.urandom(32), segment_size=SMALL), StreamingAead(key, segment_size=SMALL)
    for aead, ad in ((wrong_key, AD), (right_key, AD + b"x")):
        assert _assert_fails_with_authentic_prefix_only(aead, ct, b"secret" * 50, ad) == b""


def test_decrypt_to_a_file_object_stops_at_the_bad_segment():
    aead = StreamingAead(os.urandom(32), segment_size=SMALL)
    plaintext = os.urandom(300)
    bad = bytearray(_encrypt(aead, plaintext))
    bad[3 * SMALL + 5] ^= 1
    sink = io.BytesIO()
    with pytest.raises(StorageError, match="segment 3 .* failed authentication"):
        aead.decrypt(io.BytesIO(bytes(bad)), sink, AD)
    assert plaintext.startswith(sink.getvalue()) and len(sink.getvalue()) < 3 * SMALL


def test_bad_parameters_are_refused():
    with pytest.raises(StorageError):
        StreamingAead(b"short")
    for size in (HEADER_SIZE + TAG_SIZE, 64 << 20):
        with pytest.raises(StorageError):
            StreamingAead(os.urandom(32), segment_size=size)
    with pytest.raises(StorageError, match="unknown header"):
        list(StreamingAead(os.urandom(32)).decrypt_segments(io.BytesIO(b"\x29" + bytes(200))))
