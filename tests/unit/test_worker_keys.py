"""Signed worker keys: claims cannot be altered or re-signed elsewhere, expiry and queues hold, nothing leaks."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloudai_tasks.errors import ConfigError, WorkerKeyRefused
from cloudai_tasks.security.signing_key import PUBLIC_FILE, create_signing_key, load_verify_keys
from cloudai_tasks.security.worker_keys import check_queue_names, check_queues, issue, key_hash, read_claims, verify

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def signer():
    key = Ed25519PrivateKey.generate()
    return key, [key.public_key()]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_an_issued_key_verifies_and_names_its_own_acl_user(signer):
    key, public = signer
    issued = issue(key, "gpu-1", ["b", "a", "a"], lifetime=DAY)
    claims = verify(issued.token, public)
    assert claims == issued.claims
    assert claims.queues == ("a", "b")
    assert claims.username == f"worker:gpu-1:{claims.key_id}"
    assert claims.expires_at - claims.issued_at == 86400


def test_the_stored_hash_is_what_redis_keeps_for_the_password(signer):
    issued = issue(signer[0], "w", ["q"], lifetime=DAY)
    assert issued.key_hash == hashlib.sha256(issued.token.encode()).hexdigest() == key_hash(issued.token)


def test_edited_claims_are_forged(signer):
    key, public = signer
    token = issue(key, "w", ["q1"], lifetime=DAY).token
    prefix, _claims_part, secret, sig = token.split(".")
    body = _claims(token)
    for edit in ({"queues": ["q1", "payments"]}, {"exp": body["exp"] + 10**6}, {"wid": "other"}):
        edited = json.dumps({**body, **edit}, sort_keys=True, separators=(",", ":")).encode()
        with pytest.raises(WorkerKeyRefused) as info:
            verify(".".join([prefix, _b64(edited), secret, sig]), public)
        assert info.value.reason == "forged"


def test_a_key_signed_by_another_control_plane_is_forged(signer):
    other = issue(Ed25519PrivateKey.generate(), "w", ["q1"], lifetime=DAY)
    with pytest.raises(WorkerKeyRefused, match=r"\(forged\).*signature") as info:
        verify(other.token, signer[1])
    assert info.value.worker == "w"


def test_a_swapped_secret_is_forged(signer):
    key, public = signer
    first, second = (issue(key, "w", ["q1"], lifetime=DAY).token.split(".") for _ in range(2))
    with pytest.raises(WorkerKeyRefused, match="forged"):
        verify(".".join([first[0], first[1], second[2], first[3]]), public)


@pytest.mark.parametrize("token", ["", "x" * 5000, "cwk1", "cwk1.a.b", "cwk2.a.b.c", "cwk1.!!!.a.b",
                                   "cwk1." + _b64(b'{"wid":"w"}') + ".AAAA.AAAA",
                                   "cwk1." + _b64(b"[1,2]") + "." + _b64(b"s" * 32) + ".AAAA"])
def test_malformed_keys_are_forged(signer, token):
    with pytest.raises(WorkerKeyRefused) as info:
        verify(token, signer[1])
    assert info.value.reason == "forged"


def test_an_expired_key_is_refused_as_expired(signer):
    key, public = signer
    issued = issue(key, "w", ["q1"], lifetime=dt.timedelta(seconds=60))
    assert verify(issued.token, public, now=issued.claims.expires - dt.timedelta(seconds=1))
    with pytest.raises(WorkerKeyRefused, match="rotate-key w") as info:
        verify(issued.token, public, now=issued.claims.expires)
    assert info.value.reason == "expired"


def test_a_queue_outside_the_claims_is_refused(signer):
    claims = issue(signer[0], "w", ["a"], lifetime=DAY).claims
    check_queues(claims, ["a"])
    with pytest.raises(WorkerKeyRefused, match="asked for b") as info:
        check_queues(claims, ["a", "b"])
    assert info.value.reason == "wrong-queue"


@pytest.mark.parametrize("queue", ["cloudai.control", "unacked", "unacked_index:worker:x", "celeryev",
                                   "celery-task-meta-1", "w@h.celery.pidbox", "_kombu.binding.q", "a b", "q*", ""])
def test_reserved_or_unsafe_queue_names_cannot_be_claimed(queue):
    with pytest.raises(ConfigError):
        check_queue_names([queue])


def test_refusals_and_reprs_never_carry_the_key(signer):
    key, public = signer
    issued = issue(key, "w", ["a"], lifetime=DAY)
    secret = issued.token.split(".")[2]
    messages = [repr(issued)]
    for bad in (issued.token[:-4] + "AAAA", issued.token):
        try:
            check_queues(verify(bad, public), ["zzz"])
        except WorkerKeyRefused as e:
            messages.append(str(e))
    assert len(messages) == 3
    assert not any(secret in m or issued.token in m for m in messages)


def test_read_claims_does_not_verify_but_refuses_garbage(signer):
    foreign = issue(Ed25519PrivateKey.generate(), "w", ["a"], lifetime=DAY)
    assert read_claims(foreign.token).worker_id == "w"
    with pytest.raises(WorkerKeyRefused):
        read_claims("not-a-key")


def test_a_key_signed_with_any_listed_signing_key_verifies(tmp_path):
    """The public file may list several keys (newest first), so the signing key can be replaced gradually."""
    (old_priv, old_pub), (_new_priv, new_pub) = create_signing_key(), create_signing_key()
    (tmp_path / "keys").mkdir()
    (tmp_path / PUBLIC_FILE).write_bytes(new_pub + old_pub)
    keys = load_verify_keys(tmp_path)
    old = serialization.load_pem_private_key(old_priv, password=None)
    assert len(keys) == 2 and verify(issue(old, "w", ["a"], lifetime=DAY).token, keys).worker_id == "w"


def test_a_damaged_public_key_file_is_a_config_error(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / PUBLIC_FILE).write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ConfigError, match="not a readable public key"):
        load_verify_keys(tmp_path)
