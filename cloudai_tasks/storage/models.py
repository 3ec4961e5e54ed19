"""The index: who owns what, which keys exist, which tasks ran, which files they stored, who did what.

No row holds plaintext job output or an unwrapped private key. Column-level privileges for the worker's
database role (see db_roles.py) depend on these column names: change them together.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="user")  # "user" or "admin"
    status: Mapped[str] = mapped_column(String(16), default="active")  # "active" or "deleted"
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None]

    keys: Mapped[list["UserKey"]] = relationship(back_populates="user", order_by="UserKey.version")
    api_keys: Mapped[list["ApiKey"]] = relationship(back_populates="user")


class ApiKey(Base):
    """An API key of a person: only a hash is kept; the key itself is shown once when issued."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public lookup part of the key
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(back_populates="api_keys")


class UserKey(Base):
    """One version of a user's key pair. ``wrapped_private_key`` is NULL once shredded."""

    __tablename__ = "user_keys"
    __table_args__ = (UniqueConstraint("user_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    kem: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="current")  # current, retired, destroyed
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Readable only by the control plane: the worker role has no SELECT on the columns below.
    kek_id: Mapped[str | None] = mapped_column(String(64))
    wrapped_private_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    destroyed_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(back_populates="keys")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_user_submitted", "user_id", "submitted_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the Celery task id
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    project: Mapped[str] = mapped_column(String(64))
    image: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # succeeded, failed, killed, rejected
    worker: Mapped[str | None] = mapped_column(String(128))
    exit_code: Mapped[int | None]
    killed_reason: Mapped[str | None] = mapped_column(String(32))
    submitted_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    manifest: Mapped[dict[str, Any] | None]


class StoredFile(Base):
    """One encrypted output file. ``id`` is derived from (task id, path), so a redelivered job stores nothing twice."""

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("task_id", "path"), Index("ix_files_user", "user_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    path: Mapped[str] = mapped_column(String(1024))  # relative to the task's output
    stored_path: Mapped[str] = mapped_column(String(2048))  # relative to the storage root
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    key_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="stored")  # stored, unrecoverable
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Worker(Base):
    """A worker node enrolled with a signed worker key; only hashes of its keys are kept."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # worker name
    queues: Mapped[str] = mapped_column(String(1024))  # comma-separated
    key_id: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(128))
    previous_key_id: Mapped[str | None] = mapped_column(String(64))
    previous_key_hash: Mapped[str | None] = mapped_column(String(128))
    previous_valid_until: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, revoked, expired
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    first_seen: Mapped[dt.datetime | None]
    last_seen: Mapped[dt.datetime | None]


class AuditEvent(Base):
    """Append-only, hash-chained: each row's ``hash`` covers its fields and the previous row's hash."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(16))  # ok, denied, error
    details: Mapped[dict[str, Any] | None]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
