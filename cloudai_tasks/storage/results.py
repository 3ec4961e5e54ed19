"""What a worker does with a finished job's files: encrypt each for its owner, store it, index it.

Workers hold only public keys and the worker database role (insert tasks/files/audit, read public keys).
Storing is idempotent per (task id, path): a redelivered job writes the same file ids, and the row insert
decides whether the freshly encrypted file replaces the one on disk, so disk and index always agree (see
``_publish``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ..errors import JobRejected, StorageError
from ..security import audit
from .file_store import FileStore, ResultLocation, StoredFile as DiskFile
from .models import StoredFile, Task, User, utcnow
from .users import recipient_for


@dataclass(frozen=True)
class JobRecord:
    """The index's view of one finished job (no job output in here)."""

    task_id: str
    user: str
    project: str
    image: str
    submitted_at: dt.datetime
    status: str
    worker: str | None = None
    exit_code: int | None = None
    killed_reason: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    manifest: dict[str, Any] = field(default_factory=dict)


class Output(NamedTuple):
    """One plaintext file to store: where it is, its path in the job's results, and its digest if known."""

    relpath: str
    path: Path
    sha256: str | None = None


#: ``INSERT ... ON CONFLICT DO NOTHING`` per dialect; make_engine admits only these two.
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_ignoring_duplicates(session: Session, model, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if the row is new. Needs no SELECT privilege on the table."""
    stmt = _INSERT[session.get_bind().dialect.name](model).values(**values).on_conflict_do_nothing()
    return session.execute(stmt).rowcount == 1


class ResultStore:
    def __init__(self, sessions: sessionmaker[Session], files: FileStore) -> None:
        self.sessions = sessions
        self.files = files

    def check_owner(self, user: str) -> None:
        """Refuse a job whose owner cannot receive results (unknown, deleted, or without a key)."""
        try:
            with self.sessions() as session:
                recipient_for(session, user)
        except StorageError as e:
            raise JobRejected(f"user_id: {e}", field="user_id") from None

    def store(self, job: JobRecord, outputs: Iterable[Output | tuple[str, Path]]) -> list[dict[str, Any]]:
        """Encrypt and index every output; returns what the manifest reports per file."""
        with self.sessions.begin() as session:
            recipient = recipient_for(session, job.user)
            user_id = session.execute(select(User.id).where(User.name == job.user)).scalar_one()
            insert_ignoring_duplicates(session, Task, {
                "id": job.task_id, "user_id": user_id, "project": job.project, "image": job.image,
                "status": job.status, "worker": job.worker, "exit_code": job.exit_code,
                "killed_reason": job.killed_reason, "submitted_at": job.submitted_at, "started_at": job.started_at,
                "finished_at": job.finished_at or utcnow(), "manifest": job.manifest,
            })
        location = ResultLocation.of(job.user, job.project, job.submitted_at, job.task_id)
        stored: list[dict[str, Any]] = []
        for relpath, path, sha256 in (Output(*out) for out in outputs):
            with self.sessions.begin() as session:
                disk = self.files.store(path, location, relpath, recipient, sha256=sha256,
                                        publish=lambda f, s=session: _publish(s, f, job.task_id, user_id))
            stored.append({"path": relpath, "file_id": str(disk.file_id), "size": disk.plaintext_size,
                           "sha256": disk.sha256, "key_version": disk.key_version})
        with self.sessions.begin() as session:
            audit.record(session, actor=f"worker:{job.worker}", action="job.store", target=job.task_id,
                         details={"user": job.user, "files": len(stored), "status": job.status})
        return stored


def _publish(session: Session, disk: DiskFile, task_id: str, user_id: int) -> bool:
    """Called by the file store before it renames the new ciphertext into place.

    The row goes in first, inside the still-open transaction: if it is new, the file is renamed and the
    transaction commits; if a row already exists (an earlier delivery committed it — and renamed its file
    before committing), the new ciphertext is discarded. Either way disk and index describe the same bytes.
    """
    try:
        return insert_ignoring_duplicates(session, StoredFile, {
            "id": str(disk.file_id), "task_id": task_id, "user_id": user_id, "path": disk.relpath,
            "stored_path": disk.key, "size": disk.plaintext_size, "sha256": disk.sha256,
            "ciphertext_size": disk.ciphertext_size, "key_version": disk.key_version, "status": "stored",
            "created_at": utcnow(),
        })
    except Exception as e:  # noqa: BLE001 - the database's reason is kept as the cause
        raise StorageError(f"could not index {disk.key}: {e.__class__.__name__}") from e
