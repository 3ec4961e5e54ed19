"""User keys: private halves exist only wrapped under a KEK, rotation keeps files readable, deletion shreds."""
from __future__ import annotations

import base64
import dataclasses
import io
import os
import stat
import uuid

import pytest

from cloudai_tasks.errors import ConfigError, StorageError
from cloudai_tasks.settings import Settings
from cloudai_tasks.storage.file_format import decrypt_segments, encrypt_file
from cloudai_tasks.storage.kek import (
    Kek,
    KekRing,
    add_kek,
    ensure_kek,
    format_kek_value,
    kek_path,
    load_keks,
    parse_kek_value,
    retire_kek,
    set_current_kek,
)
from cloudai_tasks.storage.user_keys import (
    KEMS,
    Recipient,
    generate_user_key,
    rewrap_user_key,
    unwrap_user_key,
    wrap_user_key,
)


def _settings(home, kek=None) -> Settings:
    return Settings.from_env({"CLOUDAI_HOME": str(home), **({"CLOUDAI_KEK": kek} if kek else {})})


def _file_for(recipient: Recipient, plaintext: bytes):
    file_id, out = uuid.uuid4(), io.BytesIO()
    encrypt_file(io.BytesIO(plaintext), out, recipient, file_id, segment_size=128)
    return file_id, out.getvalue()


def _read(ciphertext: bytes, key, file_id) -> bytes:
    return b"".join(decrypt_segments(io.BytesIO(ciphertext), key, user=key.user, file_id=file_id))


@pytest.mark.parametrize("kem", KEMS)
def test_wrap_unwrap_round_trip_and_the_worker_side_is_public_only(kem):
    kek = Kek.generate()
    wrapped = wrap_user_key(generate_user_key("alice", 1, kem), kek)
    recipient = Recipient(wrapped.user, wrapped.version, wrapped.kem, wrapped.public_bytes)  # what a worker holds
    file_id, ciphertext = _file_for(recipient, b"result")
    assert not any(f.name.startswith("_") for f in dataclasses.fields(Recipient))
    assert _read(ciphertext, unwrap_user_key(wrapped, KekRing.of(kek)), file_id) == b"result"


def test_a_wrapped_key_does_not_unwrap_for_another_user_version_public_key_or_kek():
    kek = Kek.generate()
    wrapped = wrap_user_key(generate_user_key("alice", 1), kek)
    other = wrap_user_key(generate_user_key("bob", 1), kek)
    for bad in (
        dataclasses.replace(wrapped, user="bob"),
        dataclasses.replace(wrapped, version=2),
        dataclasses.replace(wrapped, public_bytes=other.public_bytes),
        dataclasses.replace(wrapped, wrapped_private=other.wrapped_private),
        dataclasses.replace(wrapped, wrapped_private=wrapped.wrapped_private[:-1] + b"\0"),
    ):
        with pytest.raises(StorageError, match="does not unwrap"):
            unwrap_user_key(bad, kek)
    with pytest.raises(StorageError, match="does not unwrap"):
        unwrap_user_key(wrapped, Kek(kek.id, os.urandom(32)))  # right id, wrong key material
    with pytest.raises(ConfigError, match="neither in CLOUDAI_KEK"):
        unwrap_user_key(wrapped, KekRing.of(Kek.generate()))


def test_kek_rotation_rewraps_keys_and_every_file_stays_readable(tmp_path):
    home = tmp_path / "home"
    old = ensure_kek(home)
    assert ensure_kek(home) == old  # `cloudai init` again keeps the KEK
    keys = {name: generate_user_key(name, 1) for name in ("alice", "bob")}
    rows = {name: wrap_user_key(key, load_keks(_settings(home)).current) for name, key in keys.items()}
    files = {name: _file_for(key.recipient, name.encode() * 100) for name, key in keys.items()}

    new = add_kek(home)
    ring = load_keks(_settings(home))
    rows = {name: rewrap_user_key(row, ring, new) for name, row in rows.items()}
    set_current_kek(home, new.id)
    retire_kek(home, old.id)
    assert not kek_path(home, old.id).exists()

    ring = load_keks(_settings(home))
    assert ring.current.id == new.id and set(ring.by_id) == {new.id}
    for name, row in rows.items():
        assert row.kek_id == new.id and row.public_bytes == keys[name].recipient.public_bytes
        file_id, ciphertext = files[name]
        assert _read(ciphertext, unwrap_user_key(row, ring), file_id) == name.encode() * 100
    with pytest.raises(ConfigError, match="current"):
        retire_kek(home, new.id)


def test_deleting_a_users_private_key_makes_their_files_unrecoverable(tmp_path):
    """Crypto-shredding: with the wrapped key gone, nothing left — KEK, public key, a new key — opens the file."""
    kek = Kek.generate()
    key = generate_user_key("alice", 1)
    row = wrap_user_key(key, kek)
    file_id, ciphertext = _file_for(row.recipient, b"confidential" * 20)
    assert _read(ciphertext, unwrap_user_key(row, kek), file_id) == b"confidential" * 20
    del key, row  # `cloudai users delete`: the only wrapped copy of the private key is destroyed
    for replacement in (generate_user_key("alice", 1), generate_user_key("alice", 1)):
        with pytest.raises(StorageError, match="does not open"):
            _read(ciphertext, replacement, file_id)
    assert b"confidential" not in ciphertext and kek.key not in ciphertext


def test_kek_files_are_private_and_refused_when_readable_by_others(tmp_path):
    home = tmp_path / "home"
    kek = ensure_kek(home)
    path = kek_path(home, kek.id)
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.b64encode(kek.key) not in repr(load_keks(_settings(home))).encode()
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        load_keks(_settings(home))
    assert base64.b64encode(kek.key).decode() not in str(info.value)


def test_missing_kek_is_a_config_error_naming_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="cloudai init"):
        load_keks(_settings(tmp_path / "empty"))


def test_kek_from_the_environment_wins_and_is_never_shown(tmp_path):
    a, b = Kek.generate("env-a"), Kek.generate("env-b")
    value = format_kek_value([a, b])
    settings = _settings(tmp_path / "home", value)
    assert value not in repr(settings)
    ring = load_keks(settings)
    assert ring.current == a and ring.get("env-b") == b
    assert parse_kek_value(f"k1:{base64.b64encode(a.key).decode()}").current.key == a.key
    for bad in ("nocolon", "k1:not-base64!!", f"k1:{base64.b64encode(b'short').decode()}", f"BAD ID:{value.split(':')[1]}"):
        with pytest.raises(ConfigError) as info:
            parse_kek_value(bad)
        assert base64.b64encode(a.key).decode() not in str(info.value)


def test_kek_ids_and_keys_are_validated():
    with pytest.raises(ConfigError):
        Kek("../etc", os.urandom(32))
    with pytest.raises(ConfigError):
        Kek("ok", os.urandom(16))
    assert "key=" not in repr(Kek.generate())
