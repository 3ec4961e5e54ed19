"""API keys for people: ``cak_<prefix>_<secret>``. Only a hash of the secret is stored; the key is shown once.

The secret has 256 bits of entropy, so a plain SHA-256 is enough (no password stretching needed); lookups go by
the public prefix and the hash is compared in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from ..errors import AuthError

_FORMAT = re.compile(r"^cak_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    key_hash: str
    token: str  # show once, never store


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewApiKey(prefix=prefix, key_hash=_hash(secret), token=f"cak_{prefix}_{secret}")


def split_token(token: str) -> tuple[str, str]:
    """(prefix, secret) of a well-formed key, else AuthError (which never echoes the token)."""
    m = _FORMAT.match(token or "")
    if not m:
        raise AuthError("malformed API key: expected cak_<12 chars>_<43 chars> as issued by `cloudai users create`")
    return m.group(1), m.group(2)


def matches(secret: str, key_hash: str) -> bool:
    return hmac.compare_digest(_hash(secret), key_hash)
