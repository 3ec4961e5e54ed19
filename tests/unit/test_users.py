"""Keys per user: rotation keeps old files readable, KEK rotation touches no file, deletion shreds."""
from __future__ import annotations

import io

import pytest

from cloudai_tasks.errors import AuthError, ConfigError, StorageError
from cloudai_tasks.security.api_keys import matches, split_token
from cloudai_tasks.storage.db import make_engine, session_factory
from cloudai_tasks.storage.file_store import FileStore, ResultLocation
from cloudai_tasks.storage.kek import Kek, KekRing
from cloudai_tasks.storage.migrate import upgrade
from cloudai_tasks.storage.models import ApiKey, StoredFile, Task, User, utcnow
from cloudai_tasks.storage import users


@pytest.fixture
def env(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    upgrade(engine)
    yield session_factory(engine), FileStore(tmp_path / "store"), KekRing.of(Kek.generate("k1"))
    engine.dispose()


def _store(sessions, store, name, data, task="t1"):
    with sessions() as s:
        recipient = users.recipient_for(s, name)
    return store.store(io.BytesIO(data), ResultLocation.of(name, "proj", "20260101T000000Z", task), "out.bin",
                       recipient)


def _read(sessions, store, stored, name, keks):
    with sessions() as s:
        keys = users.private_keys(s, name, keks)
        return b"".join(store.iter_plaintext(stored.key, keys, file_id=stored.file_id))


def test_round_trip_through_the_directory(env):
    sessions, store, keks = env
    with sessions.begin() as s:
        created = users.create_user(s, "alice", keks)
    stored = _store(sessions, store, "alice", b"result")
    assert _read(sessions, store, stored, "alice", keks) == b"result"
    prefix, secret = split_token(created.api_key)
    with sessions() as s:
        row = s.query(ApiKey).filter_by(prefix=prefix).one()
    assert matches(secret, row.key_hash) and created.api_key not in row.key_hash


def test_rotated_user_key_encrypts_new_files_and_keeps_old_ones_readable(env):
    sessions, store, keks = env
    with sessions.begin() as s:
        users.create_user(s, "alice", keks)
    old = _store(sessions, store, "alice", b"old", task="t1")
    with sessions.begin() as s:
        assert users.rotate_user_key(s, "alice", keks) == 2
    new = _store(sessions, store, "alice", b"new", task="t2")
    assert (old.key_version, new.key_version) == (1, 2)
    assert _read(sessions, store, old, "alice", keks) == b"old"
    assert _read(sessions, store, new, "alice", keks) == b"new"


def test_kek_rotation_rewraps_keys_without_touching_files(env):
    sessions, store, keks = env
    with sessions.begin() as s:
        users.create_user(s, "alice", keks)
    stored = _store(sessions, store, "alice", b"data")
    before = stored.path.read_bytes()
    new_kek = Kek.generate("k2")
    with sessions.begin() as s:
        assert users.rotate_kek(s, keks, new_kek) == 1
    assert stored.path.read_bytes() == before
    assert _read(sessions, store, stored, "alice", KekRing.of(new_kek)) == b"data"
    with pytest.raises(ConfigError, match="k2"):
        _read(sessions, store, stored, "alice", keks)  # the old KEK alone no longer opens the key


def test_deleting_a_user_makes_their_files_unrecoverable(env):
    sessions, store, keks = env
    with sessions.begin() as s:
        users.create_user(s, "alice", keks)
    stored = _store(sessions, store, "alice", b"secret")
    with sessions.begin() as s:
        user = s.query(User).filter_by(name="alice").one()
        s.add(Task(id="t1", user_id=user.id, project="proj", image="i", status="succeeded", submitted_at=utcnow()))
        s.flush()
        s.add(StoredFile(id=str(stored.file_id), task_id="t1", user_id=user.id, path="out.bin", stored_path=stored.key,
                         size=6, sha256=stored.sha256, ciphertext_size=stored.ciphertext_size, key_version=1))
    with sessions.begin() as s:
        assert users.delete_user(s, "alice") == 1
    with pytest.raises(StorageError, match="destroyed"):
        _read(sessions, store, stored, "alice", keks)
    with sessions() as s:
        assert s.query(StoredFile).one().status == "unrecoverable"
        with pytest.raises(StorageError, match="deleted"):
            users.recipient_for(s, "alice")


def test_users_cannot_read_each_others_files(env):
    sessions, store, keks = env
    with sessions.begin() as s:
        users.create_user(s, "alice", keks)
        users.create_user(s, "bob", keks)
    stored = _store(sessions, store, "alice", b"alice only")
    with sessions() as s:
        bob_keys = users.private_keys(s, "bob", keks)
        with pytest.raises(StorageError):
            b"".join(store.iter_plaintext(stored.key, bob_keys, file_id=stored.file_id))


@pytest.mark.parametrize("token", ["", "cak_short_x", "Bearer cak_", "cak_" + "a" * 12 + "_" + "b" * 42])
def test_malformed_api_keys_are_refused_without_echo(token):
    with pytest.raises(AuthError) as info:
        split_token(token)
    assert token not in str(info.value) or token == ""
