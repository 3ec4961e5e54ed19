"""Workers store results they cannot read back; redelivery stores nothing twice (real PostgreSQL roles)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from cloudai_tasks.errors import StorageError
from cloudai_tasks.storage.db import make_engine, session_factory
from cloudai_tasks.storage.db_roles import grant_worker_role
from cloudai_tasks.storage.file_store import FileStore
from cloudai_tasks.storage.kek import Kek, KekRing
from cloudai_tasks.storage.migrate import upgrade
from cloudai_tasks.storage.models import StoredFile, Task
from cloudai_tasks.storage.results import JobRecord, ResultStore
from cloudai_tasks.storage.users import create_user, private_keys

pytestmark = pytest.mark.integration
SUBMITTED = dt.datetime(2026, 12, 3, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def index(postgres, tmp_path_factory):
    url = postgres.create_database("index_results")
    owner = make_engine(url)
    upgrade(owner)
    keks = KekRing.of(Kek.generate("k1"))
    with session_factory(owner).begin() as s:
        create_user(s, "alice", keks)
        create_user(s, "bob", keks)
    worker = make_engine(postgres.url_for("cloudai_worker", grant_worker_role(owner), "index_results"))
    store = FileStore(tmp_path_factory.mktemp("store"))
    yield session_factory(owner), ResultStore(session_factory(worker), store), keks
    worker.dispose()
    owner.dispose()


def _job(task_id, user="alice"):
    return JobRecord(task_id=task_id, user=user, project="proj", image="python", submitted_at=SUBMITTED,
                     status="succeeded", worker="w1", exit_code=0, manifest={"exit_code": 0})


def _files(tmp_path, **contents):
    out = []
    for name, data in contents.items():
        path = tmp_path / name
        path.write_bytes(data)
        out.append((f"output/{name}", path))
    return out


def test_worker_stores_and_owner_decrypts(index, tmp_path):
    owner, results, keks = index
    stored = results.store(_job("t-1"), _files(tmp_path, a=b"alpha", b=b""))
    assert [s["path"] for s in stored] == ["output/a", "output/b"]
    with owner() as s:
        rows = {r.path: r for r in s.query(StoredFile).filter_by(task_id="t-1")}
        keys = private_keys(s, "alice", keks)
        row = rows["output/a"]
        plain = b"".join(results.files.iter_plaintext(row.stored_path, keys, file_id=uuid.UUID(row.id)))
    assert plain == b"alpha" and rows["output/b"].size == 0
    assert row.stored_path == "alice/proj/20261203T120000Z/t-1/output/a"


def test_redelivery_stores_nothing_twice_and_disk_matches_index(index, tmp_path):
    owner, results, keks = index
    first = results.store(_job("t-2"), _files(tmp_path, out=b"first run"))
    second = results.store(_job("t-2"), _files(tmp_path, out=b"second run, different bytes"))
    assert first[0]["file_id"] == second[0]["file_id"]
    with owner() as s:
        rows = s.query(StoredFile).filter_by(task_id="t-2").all()
        assert len(rows) == 1 and s.query(Task).filter_by(id="t-2").count() == 1
        keys = private_keys(s, "alice", keks)
        plain = b"".join(results.files.iter_plaintext(rows[0].stored_path, keys, file_id=uuid.UUID(rows[0].id)))
    assert plain == b"first run" and rows[0].size == len(b"first run")
    task_dir = results.files.root / "alice" / "proj" / "20261203T120000Z" / "t-2" / "output"
    assert [p.name for p in task_dir.iterdir()] == ["out"]  # no temporary leftovers


def test_the_worker_cannot_read_back_what_it_stored(index):
    _, results, _ = index
    with results.sessions() as s:
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            s.execute(sa.text("SELECT wrapped_private_key FROM user_keys")).all()


def test_unknown_user_is_refused_before_anything_is_written(index, tmp_path):
    _, results, _ = index
    with pytest.raises(StorageError, match="does not exist"):
        results.store(_job("t-3", user="mallory"), _files(tmp_path, x=b"x"))
    assert not (results.files.root / "mallory").exists()
