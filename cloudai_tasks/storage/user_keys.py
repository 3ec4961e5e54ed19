"""Per-user HPKE key pairs: public halves for anyone who stores, private halves only ever wrapped under a KEK.

The API is split so that the worker's side is visibly harmless: a ``Recipient`` is built from public bytes
alone (what a worker reads from the database) and can only *encrypt* to its user. Decrypting needs a
``UserPrivateKey``, which exists only after ``unwrap_user_key`` with the KEK — something workers never have.
Deleting a user's ``WrappedUserKey`` rows (and any KEK backup that still opens them) is crypto-shredding:
every file encrypted to those keys becomes unrecoverable.

KEMs: ``x25519`` (default, DHKEM(X25519)) and ``mlkem768-x25519`` (the post-quantum hybrid); both with
HKDF-SHA256 and AES-256-GCM in HPKE. Private keys are serialised as raw bytes (32-byte X25519 scalar;
64-byte ML-KEM seed followed by the X25519 scalar), wrapped as ``nonce ‖ AES-256-GCM(KEK, raw, aad)`` with
``aad`` binding user, key version, KEM, KEK id and the public key, so a wrapped key cannot be moved to
another user, version or public key without failing to unwrap.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import StorageError
from ..security.paths import validate_component
from .binding import bind
from .kek import Kek, KekRing

X25519 = "x25519"
MLKEM768_X25519 = "mlkem768-x25519"
KEMS = (X25519, MLKEM768_X25519)
MAX_USER_LENGTH = 64

_HPKE_KEM = {X25519: hpke.KEM.X25519, MLKEM768_X25519: hpke.KEM.MLKEM768_X25519}
_MLKEM_PUBLIC, _MLKEM_SEED, _X_SIZE = 1184, 64, 32
_PUBLIC_SIZE = {X25519: _X_SIZE, MLKEM768_X25519: _MLKEM_PUBLIC + _X_SIZE}
_PRIVATE_SIZE = {X25519: _X_SIZE, MLKEM768_X25519: _MLKEM_SEED + _X_SIZE}
_NONCE = 12

_PublicKey = Union[x25519.X25519PublicKey, hpke.MLKEM768X25519PublicKey]
_PrivateKey = Union[x25519.X25519PrivateKey, hpke.MLKEM768X25519PrivateKey]


def hpke_suite(kem: str) -> hpke.Suite:
    return hpke.Suite(_HPKE_KEM[check_kem(kem)], hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def check_kem(kem: str) -> str:
    if kem not in KEMS:
        raise StorageError(f"unknown key type {kem!r}; use one of {', '.join(KEMS)}")
    return kem


def check_user(user: str) -> str:
    return validate_component(user, what="user name", max_length=MAX_USER_LENGTH)


def _check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**32:
        raise StorageError(f"key version must be a whole number from 1 to 2^32-1, not {version!r}")
    return version


@dataclass(frozen=True)
class Recipient:
    """A user's public key: enough to encrypt files for them, useless for reading anything back."""

    user: str
    version: int
    kem: str
    public_bytes: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_user(self.user)
        _check_version(self.version)
        if len(self.public_bytes) != _PUBLIC_SIZE[check_kem(self.kem)]:
            raise StorageError(f"public key of {self.user!r} v{self.version} has the wrong length for {self.kem}")
        self.hpke_public_key()

    def hpke_public_key(self) -> _PublicKey:
        try:
            if self.kem == X25519:
                return x25519.X25519PublicKey.from_public_bytes(self.public_bytes)
            return hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(self.public_bytes[:_MLKEM_PUBLIC]),
                x25519.X25519PublicKey.from_public_bytes(self.public_bytes[_MLKEM_PUBLIC:]),
            )
        except ValueError as e:
            raise StorageError(f"public key of {self.user!r} v{self.version} is malformed; re-issue it") from e


@dataclass(frozen=True)
class UserPrivateKey:
    """An unwrapped private key, held only by the process that decrypts for a user (admin app, CLI)."""

    user: str
    version: int
    kem: str
    _raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_user(self.user)
        _check_version(self.version)
        if len(self._raw) != _PRIVATE_SIZE[check_kem(self.kem)]:
            raise StorageError(f"private key of {self.user!r} v{self.version} has the wrong length for {self.kem}")

    def hpke_private_key(self) -> _PrivateKey:
        if self.kem == X25519:
            return x25519.X25519PrivateKey.from_private_bytes(self._raw)
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self._raw[:_MLKEM_SEED]),
            x25519.X25519PrivateKey.from_private_bytes(self._raw[_MLKEM_SEED:]),
        )

    @property
    def recipient(self) -> Recipient:
        if self.kem == X25519:
            public = x25519.X25519PrivateKey.from_private_bytes(self._raw).public_key().public_bytes_raw()
        else:
            ml = mlkem.MLKEM768PrivateKey.from_seed_bytes(self._raw[:_MLKEM_SEED]).public_key().public_bytes_raw()
            xp = x25519.X25519PrivateKey.from_private_bytes(self._raw[_MLKEM_SEED:]).public_key().public_bytes_raw()
            public = ml + xp
        return Recipient(self.user, self.version, self.kem, public)


@dataclass(frozen=True)
class WrappedUserKey:
    """What the database stores for one user key: the public key in clear, the private key wrapped."""

    user: str
    version: int
    kem: str
    public_bytes: bytes = field(repr=False)
    kek_id: str
    wrapped_private: bytes = field(repr=False)

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.user, self.version, self.kem, self.public_bytes)


def generate_user_key(user: str, version: int = 1, kem: str = X25519) -> UserPrivateKey:
    """A fresh key pair for ``user``; ``version`` grows by one on every `cloudai users rotate-key`."""
    check_kem(kem)
    if kem == X25519:
        raw = x25519.X25519PrivateKey.generate().private_bytes_raw()
    else:
        raw = mlkem.MLKEM768PrivateKey.generate().private_bytes_raw() + x25519.X25519PrivateKey.generate().private_bytes_raw()
    return UserPrivateKey(user, version, kem, raw)


def _aad(user: str, version: int, kem: str, kek_id: str, public_bytes: bytes) -> bytes:
    return bind("cloudai user key v1", user, version, kem, kek_id, public_bytes)


def wrap_user_key(key: UserPrivateKey, kek: Kek) -> WrappedUserKey:
    """Wrap ``key`` under ``kek`` for storage; the result is safe to put in the database."""
    public = key.recipient.public_bytes
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(kek.key).encrypt(nonce, key._raw, _aad(key.user, key.version, key.kem, kek.id, public))
    return WrappedUserKey(key.user, key.version, key.kem, public, kek.id, nonce + sealed)


def unwrap_user_key(wrapped: WrappedUserKey, keks: KekRing | Kek) -> UserPrivateKey:
    """Open a wrapped key with the KEK its ``kek_id`` names; any mismatch or alteration is a StorageError."""
    kek = keks if isinstance(keks, Kek) else keks.get(wrapped.kek_id)
    who = f"{wrapped.user!r} v{wrapped.version}"
    if kek.id != wrapped.kek_id:
        raise StorageError(f"the private key of {who} is wrapped under KEK {wrapped.kek_id!r}, not {kek.id!r}")
    aad = _aad(wrapped.user, wrapped.version, wrapped.kem, wrapped.kek_id, wrapped.public_bytes)
    blob = wrapped.wrapped_private
    try:
        raw = AESGCM(kek.key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except (InvalidTag, ValueError):
        raise StorageError(
            f"the private key of {who} does not unwrap under KEK {kek.id!r}: the stored key was altered or "
            f"belongs to another user or version, or the KEK file is not the original"
        ) from None
    key = UserPrivateKey(wrapped.user, wrapped.version, wrapped.kem, raw)
    if key.recipient.public_bytes != wrapped.public_bytes:
        raise StorageError(f"the stored public key of {who} does not match its private key; re-issue the key")
    return key


def rewrap_user_key(wrapped: WrappedUserKey, keks: KekRing | Kek, new_kek: Kek) -> WrappedUserKey:
    """Re-wrap under ``new_kek`` (for `cloudai keys rotate-kek`); the key pair and every file stay as they are."""
    if wrapped.kek_id == new_kek.id:
        return wrapped
    return wrap_user_key(unwrap_user_key(wrapped, keks), new_kek)
