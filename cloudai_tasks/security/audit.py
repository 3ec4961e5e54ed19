"""A tamper-evident audit log: every event's hash covers its fields and the previous event's hash.

Editing, deleting or reordering a stored event breaks the chain from that event on, and ``verify`` names the
first broken event. Appends are serialised (a PostgreSQL advisory lock, or SQLite's write lock) so concurrent
writers never fork the chain.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..storage.models import AuditEvent, utcnow

GENESIS = "0" * 64
_LOCK_KEY = 0x0C10_DA1A  # advisory lock id for audit appends


def _digest(prev_hash: str, at: dt.datetime, actor: str, action: str, target: str | None, outcome: str,
            details: dict[str, Any] | None) -> str:
    body = json.dumps([prev_hash, _ts(at), actor, action, target, outcome, details or {}],
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _ts(at: dt.datetime) -> str:
    """A timestamp that survives databases that drop the time zone (SQLite) unchanged."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def record(session: Session, *, actor: str, action: str, outcome: str = "ok", target: str | None = None,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event in the caller's transaction (committed with it, or not at all)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    prev = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    prev = prev or GENESIS
    at = utcnow()
    event = AuditEvent(at=at, actor=actor, action=action, target=target, outcome=outcome, details=details,
                       prev_hash=prev, hash=_digest(prev, at, actor, action, target, outcome, details))
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    events: int
    first_bad_id: int | None
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.first_bad_id is None


def verify(session: Session) -> ChainReport:
    """Walk the chain from the start; report the first event whose hash or link does not hold."""
    prev, count = GENESIS, 0
    for ev in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        count += 1
        if ev.prev_hash != prev:
            return ChainReport(count, ev.id, "links to a hash that is not the previous event's (deleted or reordered)")
        if _digest(ev.prev_hash, ev.at, ev.actor, ev.action, ev.target, ev.outcome, ev.details) != ev.hash:
            return ChainReport(count, ev.id, "its contents do not match its hash (edited)")
        prev = ev.hash
    return ChainReport(count, None, None)
