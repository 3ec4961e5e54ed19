"""The master key-encryption key (KEK) that wraps every user's private key, and where it lives.

A KEK is 32 random bytes with a short id; wrapped keys record the id, so a KEK can be rotated: add a new
one, re-wrap every private key under it (``user_keys.rewrap_user_key``), make it current, retire the old one.
It lives either in ``CLOUDAI_KEK`` (``ID:BASE64[,ID:BASE64...]``, the first is current) or in the config
home: ``<home>/keys/kek-<id>`` files (0600, in a 0700 directory) plus ``<home>/keys/current-kek`` naming the
current one. The environment wins when set. Nothing here ever prints key material.
"""
from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import ConfigError
from ..security.private_files import make_private_dir, read_private, write_private
from ..settings import Settings

KEK_SIZE = 32
KEK_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_CURRENT = "current-kek"
_PREFIX = "kek-"


@dataclass(frozen=True)
class Kek:
    """One key-encryption key; ``repr`` shows only the id."""

    id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_kek_id(self.id)
        if len(self.key) != KEK_SIZE:
            raise ConfigError(f"KEK {self.id!r} must be {KEK_SIZE} bytes", setting="CLOUDAI_KEK")

    @classmethod
    def generate(cls, kek_id: str | None = None) -> "Kek":
        return cls(kek_id or secrets.token_hex(4), secrets.token_bytes(KEK_SIZE))


@dataclass(frozen=True)
class KekRing:
    """The current KEK (wraps new keys) and every KEK still needed to unwrap older ones, by id."""

    current: Kek
    by_id: Mapping[str, Kek] = field(repr=False)

    @classmethod
    def of(cls, current: Kek, others: Iterable[Kek] = ()) -> "KekRing":
        return cls(current, {k.id: k for k in (*others, current)})

    def get(self, kek_id: str) -> Kek:
        try:
            return self.by_id[kek_id]
        except KeyError:
            raise ConfigError(
                f"a key is wrapped under KEK {kek_id!r}, which is neither in CLOUDAI_KEK nor in <home>/keys; "
                f"restore that KEK (or finish `cloudai keys rotate-kek` with it still present)",
                setting="CLOUDAI_KEK",
            ) from None


def check_kek_id(kek_id: str) -> str:
    if not isinstance(kek_id, str) or not KEK_ID_PATTERN.fullmatch(kek_id):
        raise ConfigError(
            f"KEK id {kek_id!r} is not valid: use 1-32 lower-case letters, digits, '_' or '-'", setting="CLOUDAI_KEK"
        )
    return kek_id


def parse_kek_value(value: str) -> KekRing:
    """Parse ``CLOUDAI_KEK``; the message on error never repeats the value."""
    keks = []
    for item in value.split(","):
        kek_id, sep, encoded = item.strip().partition(":")
        if not sep:
            raise ConfigError("CLOUDAI_KEK must look like ID:BASE64KEY[,ID:BASE64KEY...]", setting="CLOUDAI_KEK")
        keks.append(Kek(check_kek_id(kek_id), _decode(encoded, f"CLOUDAI_KEK entry {kek_id!r}")))
    return KekRing.of(keks[0], keks[1:])


def format_kek_value(keks: Iterable[Kek]) -> str:
    """The ``CLOUDAI_KEK`` value for ``keks`` (the first becomes current); for operators who keep KEKs out of files."""
    return ",".join(f"{k.id}:{base64.b64encode(k.key).decode()}" for k in keks)


def load_keks(settings: Settings) -> KekRing:
    """The KEKs this process may use: ``settings.kek`` (CLOUDAI_KEK) if set, otherwise the config home's files."""
    return parse_kek_value(settings.kek) if settings.kek else load_home_keks(settings.home)


def load_home_keks(home: Path) -> KekRing:
    """Every ``<home>/keys/kek-*`` file, with the one ``current-kek`` names as current."""
    keys_dir = Path(home) / "keys"
    current_file = keys_dir / _CURRENT
    if not current_file.exists():
        raise ConfigError(
            f"no KEK found: run `cloudai init` to create one in {keys_dir}, or set CLOUDAI_KEK", setting="CLOUDAI_KEK"
        )
    current_id = check_kek_id(read_private(current_file).decode().strip())
    loaded = {}
    for path in keys_dir.glob(_PREFIX + "*"):
        kek_id = check_kek_id(path.name[len(_PREFIX):])
        loaded[kek_id] = Kek(kek_id, _decode(read_private(path).decode().strip(), str(path)))
    if current_id not in loaded:
        raise ConfigError(
            f"{current_file} names KEK {current_id!r} but {kek_path(home, current_id)} is missing; restore it",
            setting="CLOUDAI_KEK",
        )
    return KekRing.of(loaded.pop(current_id), loaded.values())


def kek_path(home: Path, kek_id: str) -> Path:
    return Path(home) / "keys" / f"{_PREFIX}{check_kek_id(kek_id)}"


def ensure_kek(home: Path) -> Kek:
    """Called by `cloudai init`: create a KEK and make it current unless the home already has a current one."""
    keys_dir = make_private_dir(Path(home) / "keys")
    if (keys_dir / _CURRENT).exists():
        return load_home_keks(home).current
    kek = add_kek(home)
    set_current_kek(home, kek.id)
    return kek


def add_kek(home: Path, kek: Kek | None = None) -> Kek:
    """Write a new KEK file (0600) without making it current; the first step of a rotation."""
    kek = kek or Kek.generate()
    make_private_dir(Path(home) / "keys")
    path = kek_path(home, kek.id)
    if not write_private(path, base64.b64encode(kek.key) + b"\n"):
        raise ConfigError(f"{path} already exists; KEKs are never overwritten — pick another id")
    return kek


def set_current_kek(home: Path, kek_id: str) -> None:
    """Make ``kek_id`` the KEK new keys are wrapped under (after every existing key was re-wrapped to it)."""
    if not kek_path(home, kek_id).exists():
        raise ConfigError(f"KEK {kek_id!r} does not exist in {Path(home) / 'keys'}; add it first")
    write_private(Path(home) / "keys" / _CURRENT, f"{kek_id}\n".encode(), overwrite=True)


def retire_kek(home: Path, kek_id: str) -> None:
    """Delete an old KEK file once no wrapped key refers to it; the current KEK cannot be retired."""
    current = read_private(Path(home) / "keys" / _CURRENT).decode().strip()
    if kek_id == current:
        raise ConfigError(f"KEK {kek_id!r} is current; make another KEK current before retiring it")
    kek_path(home, kek_id).unlink(missing_ok=True)


def _decode(encoded: str, where: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} is not valid base64", setting="CLOUDAI_KEK") from None
    if len(key) != KEK_SIZE:
        raise ConfigError(f"{where} must decode to {KEK_SIZE} bytes", setting="CLOUDAI_KEK")
    return key
