"""Invariant 3 over time: revocation cuts a running worker off, rotation has a grace period, expiry needs no one.

Real TLS Redis with ACLs, real worker processes, the control process (beat + control queue, admin ACL user) with a
1-second sweep, the registry in PostgreSQL. Visibility timeout and heartbeat are short here via settings.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import subprocess
import sys
import time

import pytest
import redis
from sqlalchemy import select

from cloudai_tasks.security import worker_registry
from cloudai_tasks.security.signing_key import load_signing_key, load_verify_keys
from cloudai_tasks.security.worker_keys import read_claims, verify
from cloudai_tasks.storage.models import AuditEvent, Worker
from tests.fixtures.services import REPO, wait_for

pytestmark = pytest.mark.integration
FAST = {"CLOUDAI_WORKER_HEARTBEAT": "1", "CLOUDAI_VISIBILITY_TIMEOUT": "3", "CLOUDAI_PREFETCH_MULTIPLIER": "1"}


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"



def _can_login(redis_server, token: str) -> bool:
    try:
        client = redis_server.client("worker", username=read_claims(token).username, password=token, socket_timeout=5)
        return client.ping()
    except redis.exceptions.AuthenticationError:
        return False


def _audit(redis_server, action: str, target: str) -> list[AuditEvent]:
    with redis_server.sessions()() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action, AuditEvent.target == target)
                               ).all()


def test_revocation_cuts_a_running_worker_off_and_its_job_goes_to_another_worker(
        redis_server, celery_worker, control_process, producer_app):
    control_process(env={"CLOUDAI_VISIBILITY_TIMEOUT": FAST["CLOUDAI_VISIBILITY_TIMEOUT"]})
    doomed = celery_worker(queues="life-revoke", env=FAST, app="tests.fixtures.slow_tasks", name=_name("doomed"))
    result = producer_app.signature("tests.slow", args=(2, 42)).apply_async(queue="life-revoke")
    wait_for(lambda: f"{result.id}] received" in doomed.log_text(), 30, "the job to reach the doomed worker")
    broker = redis_server.broker_admin()
    username = read_claims(doomed.env["CLOUDAI_WORKER_KEY"]).username
    assert broker.connections(username)

    started = time.monotonic()
    with redis_server.sessions().begin() as session:
        worker_registry.revoke(session, broker, doomed.name, actor="tests")
    wait_for(lambda: not broker.connections(username), 1, "the broker to drop the revoked worker's connections")
    assert time.monotonic() - started < 1

    assert doomed.wait_exit(30) == 77
    assert "worker key refused (revoked)" in doomed.log_text()
    successor = celery_worker(queues="life-revoke", env=FAST, app="tests.fixtures.slow_tasks", name=_name("heir"))
    assert result.get(timeout=60) == 42
    # The worker logs success just after storing the result: wait for the line rather than race it.
    wait_for(lambda: f"{result.id}] succeeded" in successor.log_text(), 10, "the successor to run the redelivered job")
    assert [e.details["messages"] for e in _audit(redis_server, "worker.jobs_restored", doomed.name)] == [1]


def test_after_rotation_both_keys_work_during_the_grace_period_then_only_the_new_one(
        redis_server, celery_worker, control_process, producer_app):
    control_process()
    name = _name("rot")
    old = redis_server.enroll(name, ["life-rotate"])
    old_worker = celery_worker(queues="life-rotate", key=old, env=FAST, name=f"{name}-old")
    with redis_server.sessions().begin() as session:
        new = worker_registry.rotate(session, redis_server.broker_admin(), load_signing_key(redis_server.home), name,
                                     grace=dt.timedelta(seconds=5), actor="tests").token
    grace_ends = time.monotonic() + 5
    new_worker = celery_worker(queues="life-rotate", key=new, env=FAST, name=f"{name}-new")
    assert time.monotonic() < grace_ends, "the test machine is too slow to observe the grace period"
    assert _can_login(redis_server, old) and _can_login(redis_server, new)
    assert old_worker.proc.poll() is None

    assert old_worker.wait_exit(30) == 77
    assert "replaced by `rotate-key`" in old_worker.log_text()
    assert not _can_login(redis_server, old) and _can_login(redis_server, new)
    assert producer_app.signature("cloudai.ping", args=(3,)).apply_async(queue="life-rotate").get(timeout=30) == 3
    assert new_worker.proc.poll() is None
    assert [e.details["key_id"] for e in _audit(redis_server, "worker.grace_end", name)] == \
        [read_claims(old).key_id]


def test_an_expired_key_stops_working_without_anyone_acting(redis_server, celery_worker, control_process):
    control_process()
    name = _name("mortal")
    token = redis_server.enroll(name, ["life-expire"], lifetime=dt.timedelta(seconds=8))
    expires = read_claims(token).expires
    worker = celery_worker(queues="life-expire", key=token, env=FAST, name=name)
    broker = redis_server.broker_admin()
    username = read_claims(token).username
    assert broker.connections(username) and dt.datetime.now(dt.timezone.utc) < expires

    wait_for(lambda: not broker.connections(username), 20, "the sweep to cut the expired worker off")
    assert dt.datetime.now(dt.timezone.utc) < expires + dt.timedelta(seconds=5), "cut off within seconds of expiry"
    assert username not in broker.worker_users() and not _can_login(redis_server, token)
    assert worker.wait_exit(30) == 77 and "worker key refused (expired)" in worker.log_text()
    with redis_server.sessions()() as session:
        assert session.get(Worker, name).status == "expired"
    assert [e.actor for e in _audit(redis_server, "worker.expire", name)] == ["control"]


def _cloudai(redis_server, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **redis_server.env("admin")}
    out = subprocess.run([sys.executable, "-m", "cloudai_tasks.cli", "workers", *args], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out


def test_the_cli_enrolls_lists_rotates_and_revokes_showing_each_key_once(redis_server, celery_worker):
    name = _name("cli")
    enrolled = _cloudai(redis_server, "enroll", name, "--queues", "life-cli,life-cli2", "--expires-in", "2h")
    key = enrolled.stdout.strip().splitlines()[-1]
    claims = verify(key, load_verify_keys(redis_server.home))
    assert (claims.worker_id, claims.queues) == (name, ("life-cli", "life-cli2"))
    assert 7190 < claims.expires_at - claims.issued_at <= 7200
    assert key not in "".join(enrolled.stdout.splitlines(keepends=True)[:-1]) + enrolled.stderr
    with redis_server.sessions()() as session:
        assert session.get(Worker, name).key_hash == hashlib.sha256(key.encode()).hexdigest()

    worker = celery_worker(queues="life-cli", key=key, env=FAST, name=name)
    listed = _cloudai(redis_server, "list").stdout
    row = next(line for line in listed.splitlines() if line.startswith(name))
    assert "active" in row and "life-cli,life-cli2" in row and key not in listed
    assert row.split()[5] != "-", "first seen is recorded once the worker joined"

    rotated = _cloudai(redis_server, "rotate-key", name, "--grace", "0").stdout.strip().splitlines()[-1]
    assert verify(rotated, load_verify_keys(redis_server.home)).key_id != claims.key_id
    assert not _can_login(redis_server, key) and _can_login(redis_server, rotated)
    assert worker.wait_exit(30) == 77, "a worker whose key was rotated away without grace stops"

    revoked = _cloudai(redis_server, "revoke", name).stdout
    assert f"worker {name}: revoked" in revoked
    assert not _can_login(redis_server, rotated)
    row = next(line for line in _cloudai(redis_server, "list").stdout.splitlines() if line.startswith(name))
    assert row.split()[1] == "revoked"


def test_a_sweep_waits_for_an_enrolment_in_progress_instead_of_deleting_its_new_user(redis_server):
    """Without serialising, a sweep reading the registry before the enrolment commits deletes the new ACL user."""
    import threading

    name = _name("race")
    enrolling, enroll_broker, sweep_broker = redis_server.sessions()(), redis_server.broker_admin(), \
        redis_server.broker_admin()
    with enrolling.begin():
        token = worker_registry.enroll(enrolling, enroll_broker, load_signing_key(redis_server.home), name,
                                       ["life-race"], actor="tests").token
        swept = threading.Event()

        def sweep():
            with redis_server.sessions().begin() as session:
                worker_registry.sweep(session, sweep_broker)
            swept.set()

        sweeper = threading.Thread(target=sweep)
        sweeper.start()
        assert not swept.wait(1), "the sweep must wait until the enrolment commits"
    sweeper.join(10)
    assert swept.is_set() and read_claims(token).username in sweep_broker.worker_users()
    assert _can_login(redis_server, token)
