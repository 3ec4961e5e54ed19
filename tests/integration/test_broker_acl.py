"""Invariants 2 and 3 enforced by Redis itself: each principal's ACL user can do its job and nothing more.

Real TLS Redis with the config home's ACL file; raw redis-py clients and a tampered worker (no bootstep) show the
broker refuses on its own what CloudAI's code would refuse anyway.
"""
from __future__ import annotations

import datetime as dt
import secrets
import stat
import threading
import time

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloudai_tasks.security.broker_acl import CONTROL_QUEUE
from cloudai_tasks.security.broker_home import ACL_FILE
from cloudai_tasks.security.worker_keys import issue, read_claims
from tests.fixtures.services import start_redis, stop

pytestmark = pytest.mark.integration
UUID = "5a1f0c4e-93a0-3e65-a3e1-7c5bd7c9a1b2"


def _login(redis_server, token: str) -> redis.Redis:
    return redis_server.client("worker", username=read_claims(token).username, password=token, socket_timeout=5)


@pytest.fixture(scope="module")
def worker_key(redis_server):
    """A key for queue acl-a; queue acl-b belongs to another worker."""
    redis_server.enroll(f"acl-b-{secrets.token_hex(3)}", ["acl-b"])
    return redis_server.enroll(f"acl-a-{secrets.token_hex(3)}", ["acl-a"])


def test_a_worker_login_reaches_its_own_queue(redis_server, worker_key):
    client = _login(redis_server, worker_key)
    assert client.llen("acl-a") == 0 and client.brpop(["acl-a"], timeout=0.1) is None


@pytest.mark.parametrize("command", [
    ("LLEN", "acl-b"), ("BRPOP", "acl-b", "0.1"), ("LPUSH", "acl-b", "x"), ("RPOP", "acl-a"),
    ("LRANGE", "acl-a", "0", "-1"), ("SMEMBERS", "_kombu.binding.acl-b"), ("HGETALL", "unacked"),
    ("ZRANGE", "unacked_index:cloudai-monitor", "0", "-1"), ("GET", "celery-task-meta-1"),
    ("LPUSH", CONTROL_QUEUE, "x"), ("BRPOP", f"{UUID}.reply.celery.pidbox", "0.1"),
    ("PUBLISH", "/0.celery.pidbox", "{}"), ("CONFIG", "GET", "*"), ("CONFIG", "SET", "aclfile", "/tmp/x"),
    ("FLUSHALL",), ("FLUSHDB",), ("KEYS", "*"), ("SCAN", "0"), ("ACL", "LIST"), ("ACL", "SETUSER", "me", "on"),
    ("CLIENT", "LIST"), ("CLIENT", "KILL", "TYPE", "normal"), ("SELECT", "1"), ("BGSAVE",), ("SWAPDB", "0", "1"),
    ("SHUTDOWN",), ("MONITOR",),
])
def test_a_worker_login_cannot_reach_other_queues_results_or_the_server(redis_server, worker_key, command):
    with pytest.raises(redis.exceptions.NoPermissionError):
        _login(redis_server, worker_key).execute_command(*command)


def test_a_worker_login_cannot_listen_to_other_workers_events_or_task_results(redis_server, worker_key):
    pubsub = _login(redis_server, worker_key).pubsub()
    for pattern in ("/0.celeryev/*", "celery-task-meta-*", "*"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            pubsub.psubscribe(pattern)
            pubsub.get_message(timeout=1)


@pytest.mark.parametrize("role,command", [
    ("producer", ("BRPOP", "acl-a", "0.1")), ("producer", ("LPUSH", CONTROL_QUEUE, "x")),
    ("producer", ("LPUSH", "never-enrolled", "x")), ("producer", ("PUBLISH", "/0.celery.pidbox", "{}")),
    ("producer", ("SET", "celery-task-meta-1", "forged")), ("producer", ("KEYS", "*")),
    ("producer", ("ACL", "LIST")), ("monitor", ("LPUSH", "acl-a", "x")), ("monitor", ("GET", "celery-task-meta-1")),
    ("monitor", ("HGETALL", "unacked:worker:x")), ("monitor", ("CONFIG", "GET", "*")),
])
def test_producer_and_monitor_have_only_their_own_rights(redis_server, worker_key, role, command):
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis_server.client(role).execute_command(*command)


def test_the_producer_may_publish_to_enrolled_queues(redis_server, worker_key):
    client = redis_server.client("producer")
    assert client.lpush("acl-b", "probe") == 1
    redis_server.client().delete("acl-b")


def test_nobody_gets_in_without_a_login(redis_server):
    s = redis_server.settings("producer")
    from cloudai_tasks.security.transport import redis_client

    anonymous = redis_client(redis_server.url, s.tls_ca, s.tls_cert, s.tls_key, socket_timeout=5)
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError), match="(?i)auth"):
        anonymous.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis_server.client("producer", username="default", password="").ping()


@pytest.mark.parametrize("case", ["claims edited", "another signing key", "revoked"])
def test_the_broker_itself_refuses_bad_keys(redis_server, case):
    name = f"raw-{secrets.token_hex(3)}"
    token = redis_server.enroll(name, ["acl-raw"])
    if case == "claims edited":
        parts = token.split(".")
        token = ".".join([parts[0], parts[1][:-2] + ("AA" if parts[1][-2:] != "AA" else "BB"), *parts[2:]])
        username = read_claims(redis_server.enroll(name, ["acl-raw"])).username
    elif case == "another signing key":
        token = issue(Ed25519PrivateKey.generate(), name, ["acl-raw"], lifetime=dt.timedelta(days=1)).token
        username = read_claims(token).username
    else:
        username = read_claims(token).username
        from cloudai_tasks.security import worker_registry

        with redis_server.sessions().begin() as session:
            worker_registry.revoke(session, redis_server.broker_admin(), name, actor="tests")
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis_server.client("worker", username=username, password=token).ping()


def test_a_tampered_worker_asking_for_another_queue_gets_nothing(redis_server, celery_worker, producer_app):
    """No bootstep at all: the broker's ACL alone keeps the job of queue B from a worker whose key names A."""
    redis_server.enroll(f"owner-{secrets.token_hex(3)}", ["acl-victim"])
    producer_app.signature("cloudai.ping", args=(1,)).apply_async(queue="acl-victim")
    token = redis_server.enroll(f"rogue-{secrets.token_hex(3)}", ["acl-rogue"])
    admin = redis_server.client()
    admin.execute_command("ACL", "LOG", "RESET")

    # Without gossip its first queue is acl-victim; with it, the denial on its own event queue could come first
    # and end the process before it ever tried the queue this test is about.
    rogue = celery_worker(queues="acl-victim", key=token, app="tests.fixtures.rogue_app", wait_ready=False,
                          extra_args=("--without-gossip",))
    deadline = time.monotonic() + 20
    denied = []
    while time.monotonic() < deadline and not denied:
        denied = [e for e in admin.acl_log() if e["username"] == read_claims(token).username
                  and e["object"] == "acl-victim"]
        time.sleep(0.2)
    rogue.stop()
    assert denied, f"the broker never refused the tampered worker:\n{rogue.log_text()[-2000:]}"
    assert admin.llen("acl-victim") == 1, "the job stays queued"


def test_a_normal_day_needs_no_more_rights_than_granted(redis_server, celery_worker, producer_app):
    """Jobs, results, inspect, events and shutdown by worker, producer and monitor: Redis denies nothing."""
    from cloudai_tasks.app import create_app

    admin = redis_server.client()
    admin.execute_command("ACL", "LOG", "RESET")
    worker = celery_worker(queues="acl-day", concurrency=2, extra_args=("-E",))
    results = [producer_app.signature("cloudai.ping", args=(i,)).apply_async(queue="acl-day", priority=i % 10)
               for i in range(10)]
    assert [r.get(timeout=30) for r in results] == list(range(10))
    monitor = create_app(redis_server.settings("monitor"))
    inspect = monitor.control.inspect(timeout=2)
    assert inspect.stats() and inspect.active_queues() and monitor.control.ping(timeout=2)
    state = monitor.events.State()

    def capture():
        with monitor.connection() as conn:
            monitor.events.Receiver(conn, handlers={"*": state.event}).capture(limit=3, timeout=10, wakeup=True)

    listener = threading.Thread(target=capture)
    listener.start()
    listener.join(15)
    worker.stop()
    assert f"{worker.name}@" in " ".join(state.workers)
    assert admin.acl_log() == []


def test_acl_users_survive_a_restart_and_the_acl_file_stays_private(tmp_path, postgres):
    server = start_redis(tmp_path / "home", database_url=postgres.create_database(f"acl_{secrets.token_hex(4)}"))
    try:
        kept = server.enroll("keeper", ["acl-restart"])
        gone = server.enroll("leaver", ["acl-restart"])
        from cloudai_tasks.security import worker_registry

        with server.sessions().begin() as session:
            worker_registry.revoke(session, server.broker_admin(), "leaver", actor="tests")
        server.restart()
        assert _login(server, kept).llen("acl-restart") == 0
        with pytest.raises(redis.exceptions.AuthenticationError):
            _login(server, gone).ping()
        assert server.client("producer").lpush("acl-restart", "x") == 1
        acl_file = server.home / ACL_FILE
        assert stat.S_IMODE(acl_file.stat().st_mode) == 0o600
        assert kept not in acl_file.read_text() and "user default off" in acl_file.read_text()
    finally:
        stop(server.proc)
