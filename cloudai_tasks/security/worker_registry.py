"""The worker registry (control plane): enrol, rotate, revoke and expire worker keys, with the broker kept in step.

Each operation changes the ``workers`` row and writes an audit event in the caller's transaction, then makes the
broker's ACL users match the registry *before* that transaction commits: if Redis refuses or cannot be reached,
nothing is recorded and the command fails. The registry keeps only the claims and the key's hash.

Operations are serialised (a PostgreSQL advisory lock; SQLite's write lock): otherwise a sweep that read the
registry just before an enrolment committed would delete the new key's ACL user as stale.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ..storage.models import Worker, utcnow
from . import audit
from .broker_acl import WorkerGrant
from .broker_users import BrokerAdmin
from .worker_keys import IssuedKey, check_queue_names, check_worker_id, issue

DEFAULT_LIFETIME = dt.timedelta(days=30)
DEFAULT_GRACE = dt.timedelta(hours=24)
_LOCK_KEY = 0x0C10_DA1B  # advisory lock id for registry changes (audit appends use ...1A)


def _serialise(session: Session) -> None:
    """Wait for any other registry change to commit; later reads in this transaction then see it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment


def grants(session: Session, now: dt.datetime | None = None) -> list[WorkerGrant]:
    """The worker keys the broker should accept right now: current keys of active, unexpired workers, plus
    previous keys still inside their rotation grace period."""
    now = now or utcnow()
    result = []
    for w in session.execute(select(Worker).where(Worker.status == "active").order_by(Worker.id)).scalars():
        expires = as_utc(w.expires_at)
        if expires is not None and expires <= now:
            continue
        queues = tuple(w.queues.split(","))
        result.append(WorkerGrant(w.id, w.key_id, w.key_hash, queues))
        previous_until = as_utc(w.previous_valid_until)
        if w.previous_key_id and previous_until is not None and previous_until > now:
            result.append(WorkerGrant(w.id, w.previous_key_id, w.previous_key_hash, queues))
    return result


def sync(session: Session, broker: BrokerAdmin, now: dt.datetime | None = None) -> list[str]:
    """Make the broker's worker users match the registry; returns the ACL users deleted (connections cut)."""
    _serialise(session)
    session.flush()
    return broker.sync(grants(session, now))


def _get(session: Session, name: str) -> Worker:
    worker = session.get(Worker, check_worker_id(name))
    if worker is None:
        raise ConfigError(f"no worker named {name!r} is enrolled; see `cloudai workers list`")
    return worker


def enroll(session: Session, broker: BrokerAdmin, signing_key: Ed25519PrivateKey, name: str, queues: Iterable[str],
           *, lifetime: dt.timedelta = DEFAULT_LIFETIME, actor: str = "cli") -> IssuedKey:
    """Issue the first key of worker ``name`` for ``queues``; a revoked or expired name may be enrolled again."""
    _serialise(session)
    check_worker_id(name)
    queues = check_queue_names(queues)
    worker = session.get(Worker, name)
    if worker is not None and worker.status == "active":
        raise ConfigError(f"worker {name!r} is already enrolled; use `cloudai workers rotate-key {name}` for a "
                          f"new key, or revoke it first")
    key = issue(signing_key, name, queues, lifetime=lifetime)
    if worker is None:
        worker = Worker(id=name)
        session.add(worker)
    worker.queues = ",".join(queues)
    worker.status = "active"
    worker.first_seen = worker.last_seen = None
    _set_key(worker, key)
    _clear_previous(worker)
    audit.record(session, actor=actor, action="worker.enroll", target=name,
                 details={"queues": list(queues), "key_id": key.claims.key_id, "expires": _iso(worker.expires_at)})
    sync(session, broker)
    return key


def rotate(session: Session, broker: BrokerAdmin, signing_key: Ed25519PrivateKey, name: str, *,
           lifetime: dt.timedelta = DEFAULT_LIFETIME, grace: dt.timedelta = DEFAULT_GRACE,
           actor: str = "cli") -> IssuedKey:
    """A new key for ``name``; the old one keeps working for ``grace`` (never past its own expiry), then stops."""
    _serialise(session)
    worker = _get(session, name)
    if worker.status == "revoked":
        raise ConfigError(f"worker {name!r} was revoked; enroll it again with `cloudai workers enroll`")
    now = utcnow()
    key = issue(signing_key, name, worker.queues.split(","), lifetime=lifetime)
    until = min(now + grace, as_utc(worker.expires_at) or now + grace)
    if worker.status == "active" and until > now:
        worker.previous_key_id, worker.previous_key_hash, worker.previous_valid_until = \
            worker.key_id, worker.key_hash, until
    else:
        _clear_previous(worker)
    old_key_id = worker.key_id
    _set_key(worker, key)
    worker.status = "active"
    audit.record(session, actor=actor, action="worker.rotate_key", target=name,
                 details={"key_id": key.claims.key_id, "previous_key_id": old_key_id,
                          "previous_valid_until": _iso(worker.previous_valid_until)})
    sync(session, broker)
    return key


def revoke(session: Session, broker: BrokerAdmin, name: str, *, actor: str = "cli") -> list[str]:
    """Revoke every key of ``name``: its ACL users are deleted, which closes their connections at once."""
    _serialise(session)
    worker = _get(session, name)
    worker.status = "revoked"
    _clear_previous(worker)
    audit.record(session, actor=actor, action="worker.revoke", target=name, details={"key_id": worker.key_id})
    return sync(session, broker)


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    grace_ended: list[str] = field(default_factory=list)
    deleted_users: list[str] = field(default_factory=list)


def sweep(session: Session, broker: BrokerAdmin, *, actor: str = "control") -> SweepReport:
    """Expire keys past their expiry and end finished grace periods; run by the control plane every sweep."""
    _serialise(session)
    now = utcnow()
    report = SweepReport()
    for worker in session.execute(select(Worker).where(Worker.status == "active")).scalars():
        expires = as_utc(worker.expires_at)
        if expires is not None and expires <= now:
            worker.status = "expired"
            _clear_previous(worker)
            report.expired.append(worker.id)
            audit.record(session, actor=actor, action="worker.expire", target=worker.id,
                         details={"key_id": worker.key_id})
        elif worker.previous_key_id and not (as_utc(worker.previous_valid_until) or now) > now:
            report.grace_ended.append(worker.id)
            audit.record(session, actor=actor, action="worker.grace_end", target=worker.id,
                         details={"key_id": worker.previous_key_id})
            _clear_previous(worker)
    report.deleted_users = sync(session, broker, now)
    return report


def _set_key(worker: Worker, key: IssuedKey) -> None:
    worker.key_id = key.claims.key_id
    worker.key_hash = key.key_hash
    worker.issued_at = key.claims.issued
    worker.expires_at = key.claims.expires


def _clear_previous(worker: Worker) -> None:
    worker.previous_key_id = worker.previous_key_hash = worker.previous_valid_until = None


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat(timespec="seconds")
