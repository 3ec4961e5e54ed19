"""Invariant 3: a worker joins only with a valid worker key; every bad key is refused and its job waits.

Real TLS Redis with ACL users, real worker processes, the registry in PostgreSQL.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from cloudai_tasks.security import worker_registry
from cloudai_tasks.security.signing_key import load_signing_key
from cloudai_tasks.security.worker_keys import issue
from cloudai_tasks.storage.models import AuditEvent, Worker

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def _edit_claims(token: str, **changes) -> str:
    prefix, claims, secret, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    body.update(changes)
    edited = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return ".".join([prefix, edited.rstrip(b"=").decode(), secret, signature])


def _bad_key(redis_server, case: str, queue: str) -> tuple[str | None, str]:
    """A key of the given kind for a worker that would consume ``queue``, and the refusal reason expected."""
    home = redis_server.home
    if case == "no key":
        return None, "missing"
    if case == "claims edited":
        token = redis_server.enroll(_name("edit"), ["elsewhere"])
        return _edit_claims(token, queues=[queue]), "forged"
    if case == "another signing key":
        return issue(Ed25519PrivateKey.generate(), _name("alien"), [queue], lifetime=dt.timedelta(days=1)).token, \
            "forged"
    if case == "expired":
        token = redis_server.enroll(_name("old"), [queue], lifetime=dt.timedelta(seconds=1))
        time.sleep(1.1)
        return token, "expired"
    if case == "revoked":
        name = _name("gone")
        token = redis_server.enroll(name, [queue])
        with redis_server.sessions().begin() as session:
            worker_registry.revoke(session, redis_server.broker_admin(), name, actor="tests")
        return token, "revoked"
    if case == "never enrolled":
        return issue(load_signing_key(home), _name("ghost"), [queue], lifetime=dt.timedelta(days=1)).token, "unknown"
    if case == "key for another queue":
        return redis_server.enroll(_name("other"), [f"{queue}-a"]), "wrong-queue"
    raise AssertionError(case)


def _waiting_job(redis_server, producer_app, queue: str):
    """A job on ``queue`` (a legitimate worker for it is enrolled, so the producer may publish there)."""
    redis_server.enroll(_name("legit"), [queue])
    result = producer_app.signature("cloudai.ping", args=(7,)).apply_async(queue=queue)
    assert redis_server.client().llen(queue) == 1
    return result


def test_a_worker_with_a_valid_key_receives_jobs_for_its_queue(redis_server, celery_worker, producer_app):
    worker = celery_worker(queues="join-ok", name=_name("ok"))
    assert producer_app.signature("cloudai.ping", args=(5,)).apply_async(queue="join-ok").get(timeout=30) == 5
    log = worker.log_text()
    assert "joined join-ok as ACL user worker:" in log and worker.env["CLOUDAI_WORKER_KEY"] not in log
    with redis_server.sessions()() as session:
        row = session.get(Worker, worker.name)
        assert row.first_seen is not None and row.last_seen is not None
        joins = session.scalars(select(AuditEvent).where(AuditEvent.action == "worker.join",
                                                         AuditEvent.target == worker.name)).all()
        assert [(e.outcome, e.details["queues"]) for e in joins] == [("ok", ["join-ok"])]


@pytest.mark.parametrize("case", ["no key", "claims edited", "another signing key", "expired", "revoked",
                                  "never enrolled", "key for another queue"])
def test_a_bad_key_is_refused_at_once_and_the_job_stays_queued(redis_server, celery_worker, producer_app, case):
    queue = f"join-{case.replace(' ', '-')}"
    _waiting_job(redis_server, producer_app, queue)
    key, reason = _bad_key(redis_server, case, queue)

    worker = celery_worker(queues=queue, key=key, wait_ready=False, name=_name("bad"))

    assert worker.wait_exit(timeout=60) == 77
    log = worker.log_text()
    assert f"worker key refused ({reason})" in log
    assert " ready." not in log and "Connected to" not in log, "refused before any broker connection"
    if key:
        assert key not in log and key.split(".")[2] not in log
    assert redis_server.client().llen(queue) == 1, "the job is still queued for a legitimate worker"
    with redis_server.sessions()() as session:
        refusal = session.scalars(select(AuditEvent).where(AuditEvent.action == "worker.join")
                                  .order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (refusal.outcome, refusal.details["reason"], refusal.details["queues"]) == ("denied", reason, [queue])


def test_after_a_refusal_a_legitimate_worker_gets_the_waiting_job(redis_server, celery_worker, producer_app):
    queue = "join-then-legit"
    result = _waiting_job(redis_server, producer_app, queue)
    alien = issue(Ed25519PrivateKey.generate(), "alien", [queue], lifetime=dt.timedelta(days=1)).token
    assert celery_worker(queues=queue, key=alien, wait_ready=False).wait_exit(timeout=60) == 77
    assert redis_server.client().llen(queue) == 1
    celery_worker(queues=queue)
    assert result.get(timeout=30) == 7


def test_a_worker_presenting_another_workers_name_is_refused(redis_server, celery_worker):
    """CLOUDAI_WORKER_ID names the node's directories and its registry row; it must be the key's own name."""
    token = redis_server.enroll(_name("named"), ["join-name"])
    impostor = celery_worker(queues="join-name", env={"CLOUDAI_WORKER_ID": "someone-else"}, key=token,
                             wait_ready=False)
    assert impostor.wait_exit(60) == 77
    assert "unset CLOUDAI_WORKER_ID" in impostor.log_text() and " ready." not in impostor.log_text()
