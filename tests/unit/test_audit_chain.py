"""Invariant 9: the audit log is tamper-evident — edits, deletions and reordering are found."""
from __future__ import annotations

from sqlalchemy import delete, update

from cloudai_tasks.security import audit
from cloudai_tasks.storage.db import make_engine
from cloudai_tasks.storage.migrate import current, upgrade
from cloudai_tasks.storage.models import AuditEvent


def _fill(sessions, n=5):
    with sessions.begin() as s:
        for i in range(n):
            audit.record(s, actor="admin", action="user.create", target=f"user{i}", details={"i": i})


def test_migrations_reach_head(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    assert current(engine) == "0001"


def test_an_untouched_chain_verifies(sessions):
    _fill(sessions)
    with sessions() as s:
        report = audit.verify(s)
    assert report.intact and report.events == 5


def test_an_edited_event_is_found(sessions):
    _fill(sessions)
    with sessions.begin() as s:
        s.execute(update(AuditEvent).where(AuditEvent.id == 3).values(target="someone-else"))
    with sessions() as s:
        report = audit.verify(s)
    assert report.first_bad_id == 3 and "edited" in report.reason


def test_a_deleted_event_is_found(sessions):
    _fill(sessions)
    with sessions.begin() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id == 2))
    with sessions() as s:
        report = audit.verify(s)
    assert report.first_bad_id == 3 and "deleted" in report.reason


def test_events_chain_to_each_other(sessions):
    _fill(sessions, 3)
    with sessions() as s:
        events = s.query(AuditEvent).order_by(AuditEvent.id).all()
    assert events[0].prev_hash == audit.GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
