"""The control plane's Ed25519 key that signs worker keys, kept in the config home.

Only the control plane (``cloudai workers ...``) loads the private half. Worker nodes need only the public file,
which may hold several PEM keys, newest first: a worker key signed by any of them verifies, so the signing key
can be replaced without re-enrolling every worker at once.
"""
from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigError

PRIVATE_FILE = Path("keys") / "worker-signing.pem"
PUBLIC_FILE = Path("keys") / "worker-signing.pub"
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)


def create_signing_key() -> tuple[bytes, bytes]:
    """A new key pair as (private PKCS#8 PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def load_signing_key(home: Path) -> Ed25519PrivateKey:
    path = Path(home) / PRIVATE_FILE
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: worker keys are issued only where `cloudai init` created the "
                          f"control plane's signing key") from None
    except ValueError as e:
        raise ConfigError(f"{path} is not a PEM private key ({e}); restore it or run `cloudai init --force`") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key; restore it or run `cloudai init --force`")
    return key


def load_verify_keys(home: Path) -> list[Ed25519PublicKey]:
    """Every public key a worker key may be signed with, newest first; never empty."""
    path = Path(home) / PUBLIC_FILE
    try:
        blocks = _PEM_BLOCK.findall(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: copy it from the control plane's config home") from None
    keys = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block)
        except ValueError:
            raise ConfigError(f"{path} holds a PEM block that is not a readable public key; copy it again from the "
                              f"control plane's config home") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{path} holds a key that is not Ed25519")
        keys.append(key)
    if not keys:
        raise ConfigError(f"{path} holds no public key: copy it from the control plane's config home")
    return keys
