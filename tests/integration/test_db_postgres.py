"""Against real PostgreSQL: migrations apply, and the worker's role can write results but read no secrets."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import ProgrammingError

from cloudai_tasks.security import audit
from cloudai_tasks.storage.db import make_engine, session_factory
from cloudai_tasks.storage.db_roles import grant_worker_role
from cloudai_tasks.storage.migrate import current, upgrade
from cloudai_tasks.storage.models import StoredFile, Task, User, UserKey

pytestmark = pytest.mark.integration
NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def index(postgres):
    url = postgres.create_database("index_roles")
    owner = make_engine(url)
    upgrade(owner)
    with session_factory(owner).begin() as s:
        for name in ("alice", "bob"):
            user = User(name=name)
            s.add(user)
            s.flush()
            s.add(UserKey(user_id=user.id, version=1, kem="X25519", public_key=b"P" * 32, kek_id="k1",
                          wrapped_private_key=b"SECRET-" + name.encode()))
            s.add(Task(id=f"t-{name}", user_id=user.id, project="p", image="img", status="succeeded",
                       submitted_at=NOW))
            s.flush()
            s.add(StoredFile(id=f"f-{name}", task_id=f"t-{name}", user_id=user.id, path="out.txt",
                             stored_path=f"{name}/p/x/t/out.txt", size=1, sha256="0" * 64, ciphertext_size=90,
                             key_version=1))
    password = grant_worker_role(owner, "cloudai_worker")
    worker = make_engine(postgres.url_for("cloudai_worker", password, "index_roles"))
    yield owner, worker
    worker.dispose()
    owner.dispose()


def _run(engine, sql, **params):
    with engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.fetchall() if result.returns_rows else []


def test_migrations_reach_head(index):
    owner, _ = index
    assert current(owner) == "0001"


def test_worker_reads_public_keys(index):
    _, worker = index
    rows = _run(worker, "SELECT u.name, k.version, k.public_key FROM user_keys k JOIN users u ON u.id = k.user_id "
                        "ORDER BY u.name")
    assert [(r[0], r[1], bytes(r[2])) for r in rows] == [("alice", 1, b"P" * 32), ("bob", 1, b"P" * 32)]


@pytest.mark.parametrize("sql", [
    "SELECT wrapped_private_key FROM user_keys",
    "SELECT kek_id FROM user_keys",
    "SELECT * FROM user_keys",
    "SELECT * FROM files",
    "SELECT path FROM files WHERE user_id = 2",
    "SELECT manifest FROM tasks",
    "SELECT key_hash FROM workers",
    "SELECT previous_key_hash FROM workers",
    "SELECT * FROM workers",
    "UPDATE workers SET status = 'active'",
    "UPDATE workers SET key_hash = 'x', key_id = 'y'",
    "UPDATE workers SET expires_at = now() + interval '1 year'",
    "DELETE FROM workers",
    "SELECT * FROM api_keys",
    "UPDATE files SET size = 0",
    "DELETE FROM audit_events",
    "UPDATE audit_events SET actor = 'x'",
    "DELETE FROM tasks",
    "DROP TABLE files",
])
def test_worker_is_refused_everything_else(index, sql):
    _, worker = index
    with pytest.raises(ProgrammingError, match="permission denied|must be owner"):
        _run(worker, sql)


def test_worker_reads_its_key_standing_and_heartbeats_but_no_hash(index):
    owner, worker = index
    _run(owner, "INSERT INTO workers (id, queues, key_id, key_hash, status, issued_at) "
                "VALUES ('gpu-1', 'q1', 'k1', 'HASH', 'active', now())")
    rows = _run(worker, "SELECT status, key_id, previous_key_id, previous_valid_until, expires_at, queues "
                        "FROM workers WHERE id = 'gpu-1'")
    assert rows == [("active", "k1", None, None, None, "q1")]
    _run(worker, "UPDATE workers SET first_seen = now() WHERE id = 'gpu-1' AND first_seen IS NULL")
    _run(worker, "UPDATE workers SET last_seen = now() WHERE id = 'gpu-1'")
    assert _run(owner, "SELECT first_seen IS NOT NULL, last_seen IS NOT NULL FROM workers")[0] == (True, True)


def test_worker_inserts_results_idempotently_and_audits(index):
    _, worker = index
    insert_task = ("INSERT INTO tasks (id, user_id, project, image, status, submitted_at) "
                   "VALUES ('t-new', 1, 'p', 'img', 'succeeded', now()) ON CONFLICT DO NOTHING")
    insert_file = ("INSERT INTO files (id, task_id, user_id, path, stored_path, size, sha256, ciphertext_size, "
                   "key_version, status, created_at) VALUES ('f-new', 't-new', 1, 'a', 'alice/a', 1, :h, 90, 1, "
                   "'stored', now()) ON CONFLICT DO NOTHING")
    for _ in range(2):  # a redelivered job runs the same inserts again
        _run(worker, insert_task)
        _run(worker, insert_file, h="1" * 64)
    with session_factory(worker).begin() as s:
        audit.record(s, actor="worker:w1", action="job.finish", target="t-new")
    owner, _ = index
    assert _run(owner, "SELECT count(*) FROM files WHERE task_id = 't-new'")[0][0] == 1
    with session_factory(owner)() as s:
        assert audit.verify(s).intact
