"""Signed worker keys: ``cwk1.<claims>.<secret>.<signature>``, all base64url.

The claims (worker id, queues, issue and expiry time, key id) are signed together with a 256-bit secret by the
control plane's Ed25519 key, so neither can be altered or swapped. The whole key is also the worker's Redis ACL
password: the broker keeps only its SHA-256 (``#<hash>`` in the ACL file), the registry the same hash, and the
key itself is shown once. A worker checks its own key at start-up to say clearly why it cannot join; the broker
enforces the same decision whatever the worker's code does.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigError, WorkerKeyRefused

PREFIX = "cwk1"
MAX_KEY_LENGTH = 4096
WORKER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,47}$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Queue names that would collide with the control plane or with kombu's and Celery's own keys on Redis.
RESERVED_QUEUE = re.compile(r"^(cloudai\.|celeryev|unacked|celery-task-meta-)|\.pidbox$")
_CLAIM_TYPES = {"wid": str, "queues": list, "iat": int, "exp": int, "kid": str}


@dataclass(frozen=True)
class WorkerClaims:
    """What a worker key says about its worker; trustworthy only once ``verify`` returned it."""

    worker_id: str
    queues: tuple[str, ...]
    issued_at: int
    expires_at: int
    key_id: str

    @property
    def username(self) -> str:
        """The Redis ACL user of this key: one per key, so a rotation's old key can be cut off alone."""
        return acl_username(self.worker_id, self.key_id)

    @property
    def expires(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.expires_at, dt.timezone.utc)

    @property
    def issued(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.issued_at, dt.timezone.utc)


@dataclass(frozen=True)
class IssuedKey:
    claims: WorkerClaims
    token: str = field(repr=False)  # shown once, never stored

    @property
    def key_hash(self) -> str:
        return key_hash(self.token)


def acl_username(worker_id: str, key_id: str) -> str:
    return f"worker:{worker_id}:{key_id}"


def key_hash(token: str) -> str:
    """SHA-256 hex of the whole key: what the registry stores and exactly what Redis keeps for the password."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_worker_id(worker_id: str) -> str:
    if not WORKER_ID.match(worker_id or ""):
        raise ConfigError(f"worker name {worker_id!r} must be 1-48 lower-case letters, digits, '.', '_' or '-', "
                          f"starting with a letter or digit")
    return worker_id


def check_queue_names(queues: Iterable[str]) -> tuple[str, ...]:
    """Queue names a worker key may name: sorted, unique, never empty, none reserved."""
    names = tuple(sorted({q.strip() for q in queues if q.strip()}))
    if not names:
        raise ConfigError("a worker key names at least one queue, e.g. --queues celery")
    for name in names:
        if not QUEUE_NAME.match(name):
            raise ConfigError(f"queue name {name!r} must be letters, digits, '.', '_' or '-' (at most 100)")
        if RESERVED_QUEUE.search(name):
            raise ConfigError(f"queue name {name!r} is reserved for the control plane or for Celery's own keys")
    return names


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed_part(claims_b64: str, secret_b64: str) -> bytes:
    return f"{PREFIX}.{claims_b64}.{secret_b64}".encode()


def issue(signing_key: Ed25519PrivateKey, worker_id: str, queues: Iterable[str], *, lifetime: dt.timedelta,
          now: dt.datetime | None = None) -> IssuedKey:
    """A new key for ``worker_id`` valid for ``lifetime``; the caller shows ``token`` once and stores the hash."""
    check_worker_id(worker_id)
    if lifetime <= dt.timedelta(0):
        raise ConfigError("a worker key's lifetime must be positive, e.g. --expires-in 30d")
    issued_at = int((now or dt.datetime.now(dt.timezone.utc)).timestamp())
    claims = WorkerClaims(worker_id=worker_id, queues=check_queue_names(queues), issued_at=issued_at,
                          expires_at=issued_at + int(lifetime.total_seconds()), key_id=secrets.token_hex(8))
    body = {"wid": claims.worker_id, "queues": list(claims.queues), "iat": claims.issued_at,
            "exp": claims.expires_at, "kid": claims.key_id}
    claims_b64 = _b64(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    secret_b64 = _b64(secrets.token_bytes(32))
    signature = signing_key.sign(_signed_part(claims_b64, secret_b64))
    return IssuedKey(claims=claims, token=f"{PREFIX}.{claims_b64}.{secret_b64}.{_b64(signature)}")


def _forged(detail: str) -> WorkerKeyRefused:
    return WorkerKeyRefused("forged", f"{detail}; use a key printed by `cloudai workers enroll` or `rotate-key`")


def _split(token: str) -> tuple[str, str, bytes, WorkerClaims]:
    if not isinstance(token, str) or not token or len(token) > MAX_KEY_LENGTH:
        raise _forged("not a worker key")
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise _forged(f"not a worker key (expected {PREFIX}.<claims>.<secret>.<signature>)")
    _, claims_b64, secret_b64, sig_b64 = parts
    try:
        body = json.loads(_unb64(claims_b64))
        secret, signature = _unb64(secret_b64), _unb64(sig_b64)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _forged("the key is malformed") from None
    if not isinstance(body, dict) or set(body) != set(_CLAIM_TYPES) or len(secret) != 32 \
            or any(not isinstance(body[k], t) or isinstance(body[k], bool) for k, t in _CLAIM_TYPES.items()) \
            or not all(isinstance(q, str) for q in body["queues"]):
        raise _forged("the key's claims are malformed")
    claims = WorkerClaims(worker_id=body["wid"], queues=tuple(body["queues"]), issued_at=body["iat"],
                          expires_at=body["exp"], key_id=body["kid"])
    if not WORKER_ID.match(claims.worker_id) or not re.fullmatch(r"[0-9a-f]{16}", claims.key_id):
        raise _forged("the key's claims are malformed")
    return claims_b64, secret_b64, signature, claims


def read_claims(token: str) -> WorkerClaims:
    """The claims as written, NOT verified: only to name the ACL user the broker will check the key against."""
    return _split(token)[3]


def verify(token: str, public_keys: Sequence[Ed25519PublicKey], *, now: dt.datetime | None = None) -> WorkerClaims:
    """The key's claims if one of ``public_keys`` signed it and it has not expired; WorkerKeyRefused otherwise."""
    claims_b64, secret_b64, signature, claims = _split(token)
    for public_key in public_keys:
        try:
            public_key.verify(signature, _signed_part(claims_b64, secret_b64))
            break
        except InvalidSignature:
            continue
    else:
        raise WorkerKeyRefused("forged", "the signature does not verify against this control plane's signing key "
                                         "(claims edited, or signed by another key)", worker=claims.worker_id)
    moment = int((now or dt.datetime.now(dt.timezone.utc)).timestamp())
    if moment >= claims.expires_at:
        raise WorkerKeyRefused("expired", f"the key of worker {claims.worker_id!r} expired at "
                                          f"{claims.expires:%Y-%m-%d %H:%M:%S} UTC; issue a new one with "
                                          f"`cloudai workers rotate-key {claims.worker_id}`", worker=claims.worker_id)
    return claims


def check_queues(claims: WorkerClaims, requested: Iterable[str]) -> None:
    """Refuse a worker that asks for a queue its key does not name."""
    extra = sorted(set(requested) - set(claims.queues))
    if extra:
        raise WorkerKeyRefused("wrong-queue", f"worker {claims.worker_id!r} asked for {', '.join(extra)} but its key "
                                              f"names only {', '.join(claims.queues)}", worker=claims.worker_id)
