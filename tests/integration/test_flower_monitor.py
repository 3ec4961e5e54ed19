"""Flower, logged in to the broker as the monitor ACL user, sees the workers; it cannot run jobs or leak secrets."""
from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy.engine import make_url

from cloudai_tasks.security.broker_home import secret_file
from tests.fixtures.services import REPO, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def flower(redis_server, tmp_path):
    """Flower as people run it (`celery -A cloudai_tasks flower`) with CLOUDAI_ROLE=monitor and a login of its own."""
    port, password = free_port(), secrets.token_urlsafe(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDAI_")}
    env.update(redis_server.env("monitor"))
    log = tmp_path / "flower.log"
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "cloudai_tasks", "flower", f"--port={port}",
                             "--address=127.0.0.1", f"--basic-auth=ops:{password}"], env=env, cwd=REPO,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    auth = "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()

    def call(path: str, method: str = "GET", authorized: bool = True) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=b"{}" if
                                         method == "POST" else None, headers={"Authorization": auth} if authorized
                                         else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    yield call, log
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)


def _workers(call, name: str, timeout: float = 30, needs: tuple[str, ...] = ("active_queues", "conf")) -> str:
    """Flower's worker list once it shows ``name`` with every field in ``needs`` (a refresh can return before
    all of a worker's inspect replies arrived, with some fields missing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, body = call("/api/workers?refresh=1")
        except (ConnectionError, urllib.error.URLError):
            status, body = 0, ""
        nodes = json.loads(body) if status == 200 else {}
        if any(node.startswith(f"{name}@") and all(k in info for k in needs) for node, info in nodes.items()):
            return body
        time.sleep(0.5)
    raise AssertionError(f"Flower never listed worker {name}")


def test_flower_as_the_monitor_user_sees_workers_and_leaks_no_secret(redis_server, celery_worker, flower):
    call, _log = flower
    worker = celery_worker(queues="flower-q")
    body = _workers(call, worker.name)
    node = json.loads(body)[next(n for n in json.loads(body) if n.startswith(f"{worker.name}@"))]
    assert [q["name"] for q in node["active_queues"]] == ["flower-q"]
    assert node["conf"]["broker_password"] == "********" and node["conf"]["broker_user"].startswith("worker:")
    secrets_seen = [worker.env["CLOUDAI_WORKER_KEY"], make_url(redis_server.worker_database_url).password,
                    *(secret_file(redis_server.home, r).read_text().strip() for r in ("monitor", "admin"))]
    assert not [s for s in secrets_seen if s in body]
    assert call("/api/workers", authorized=False)[0] == 401


def test_flower_cannot_run_jobs_through_the_monitor_user(redis_server, celery_worker, flower):
    call, _log = flower
    worker = celery_worker(queues="celery")
    _workers(call, worker.name)
    admin = redis_server.client()
    admin.execute_command("ACL", "LOG", "RESET")
    before = admin.llen("celery")

    status, _ = call("/api/task/async-apply/cloudai.ping", method="POST")

    assert status != 200
    assert admin.llen("celery") == before
    assert any(e["username"] == "cloudai-monitor" for e in admin.acl_log())
