"""The registry's side of worker keys: what it stores, what it grants the broker, how keys end."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from cloudai_tasks.errors import ConfigError, ServiceError, WorkerKeyRefused
from cloudai_tasks.security import audit, worker_registry
from cloudai_tasks.security.worker_join import key_standing
from cloudai_tasks.security.worker_keys import issue
from cloudai_tasks.storage.models import AuditEvent, Worker, utcnow


class FakeBroker:
    """Records the grants the registry asks for, like BrokerAdmin.sync would apply them."""

    def __init__(self) -> None:
        self.grants = []
        self.fail = False

    def sync(self, grants):
        if self.fail:
            raise ServiceError("the broker is not reachable")
        deleted = [g for g in self.grants if g not in grants]
        self.grants = list(grants)
        return [f"worker:{g.worker_id}:{g.key_id}" for g in deleted]


@pytest.fixture
def broker():
    return FakeBroker()


SIGNER = Ed25519PrivateKey.generate()


def _enroll(sessions, broker, name="w1", queues=("q1",), **kw):
    with sessions.begin() as s:
        return worker_registry.enroll(s, broker, SIGNER, name, queues, **kw)


def test_enrolment_stores_claims_and_hash_only_and_grants_the_key(sessions, broker, tmp_path):
    key = _enroll(sessions, broker, queues=("q2", "q1"))
    with sessions() as s:
        row = s.get(Worker, "w1")
        assert (row.queues, row.key_id, row.key_hash, row.status) == ("q1,q2", key.claims.key_id, key.key_hash,
                                                                      "active")
        assert s.scalars(select(AuditEvent.action)).all() == ["worker.enroll"]
    assert [(g.worker_id, g.key_hash, g.queues) for g in broker.grants] == [("w1", key.key_hash, ("q1", "q2"))]
    secret = key.token.split(".")[2]
    assert secret.encode() not in (tmp_path / "index.db").read_bytes()


def test_a_broker_failure_records_nothing(sessions, broker):
    broker.fail = True
    with pytest.raises(ServiceError):
        _enroll(sessions, broker)
    with sessions() as s:
        assert s.get(Worker, "w1") is None and s.scalars(select(AuditEvent)).all() == []


def test_an_active_worker_cannot_be_enrolled_twice_but_a_revoked_one_can(sessions, broker):
    _enroll(sessions, broker)
    with pytest.raises(ConfigError, match="rotate-key"):
        _enroll(sessions, broker)
    with sessions.begin() as s:
        worker_registry.revoke(s, broker, "w1")
    assert broker.grants == []
    again = _enroll(sessions, broker, queues=("q3",))
    assert [g.key_id for g in broker.grants] == [again.claims.key_id]


def test_rotation_grants_both_keys_during_grace_then_only_the_new(sessions, broker):
    old = _enroll(sessions, broker)
    with sessions.begin() as s:
        new = worker_registry.rotate(s, broker, SIGNER, "w1", grace=dt.timedelta(hours=1))
    assert {g.key_id for g in broker.grants} == {old.claims.key_id, new.claims.key_id}
    with sessions() as s:
        key_standing(s, old.claims, utcnow())
        key_standing(s, new.claims, utcnow())
    with sessions.begin() as s:
        s.execute(update(Worker).values(previous_valid_until=utcnow() - dt.timedelta(seconds=1)))
    with sessions.begin() as s:
        report = worker_registry.sweep(s, broker)
    assert report.grace_ended == ["w1"] and report.deleted_users == [f"worker:w1:{old.claims.key_id}"]
    assert [g.key_id for g in broker.grants] == [new.claims.key_id]
    with sessions() as s, pytest.raises(WorkerKeyRefused, match="replaced by `rotate-key`") as info:
        key_standing(s, old.claims, utcnow())
    assert info.value.reason == "revoked"


def test_rotation_without_grace_stops_the_old_key_at_once(sessions, broker):
    old = _enroll(sessions, broker)
    with sessions.begin() as s:
        worker_registry.rotate(s, broker, SIGNER, "w1", grace=dt.timedelta(0))
    assert old.claims.key_id not in {g.key_id for g in broker.grants}


def test_revocation_ends_every_key_and_is_audited(sessions, broker):
    old = _enroll(sessions, broker)
    with sessions.begin() as s:
        worker_registry.rotate(s, broker, SIGNER, "w1")
    with sessions.begin() as s:
        deleted = worker_registry.revoke(s, broker, "w1", actor="admin:alice")
    assert len(deleted) == 2 and broker.grants == []
    with sessions() as s:
        with pytest.raises(WorkerKeyRefused) as info:
            key_standing(s, old.claims, utcnow())
        assert info.value.reason == "revoked"
        assert s.scalars(select(AuditEvent.action)).all() == ["worker.enroll", "worker.rotate_key", "worker.revoke"]
        assert audit.verify(s).intact
    with sessions.begin() as s, pytest.raises(ConfigError, match="enroll it again"):
        worker_registry.rotate(s, broker, SIGNER, "w1")


def test_the_sweep_expires_keys_past_their_expiry(sessions, broker):
    key = _enroll(sessions, broker, lifetime=dt.timedelta(seconds=30))
    with sessions.begin() as s:
        assert worker_registry.sweep(s, broker).expired == []
        s.execute(update(Worker).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    with sessions.begin() as s:
        assert worker_registry.grants(s) == [], "an expired key is dropped even before the sweep marks it"
        assert worker_registry.sweep(s, broker).expired == ["w1"]
    with sessions() as s, pytest.raises(WorkerKeyRefused) as info:
        key_standing(s, key.claims, utcnow())
    assert info.value.reason == "expired" and broker.grants == []


def test_an_unknown_worker_is_named_as_such(sessions, broker):
    other = issue(SIGNER, "ghost", ["q1"], lifetime=dt.timedelta(days=1))
    with sessions() as s, pytest.raises(WorkerKeyRefused) as info:
        key_standing(s, other.claims, utcnow())
    assert info.value.reason == "unknown"


def test_a_status_other_than_active_is_refused(sessions, broker):
    key = _enroll(sessions, broker)
    with sessions.begin() as s:
        s.execute(update(Worker).values(status="suspended"))
    with sessions() as s, pytest.raises(WorkerKeyRefused) as info:
        key_standing(s, key.claims, utcnow())
    assert info.value.reason == "revoked"
