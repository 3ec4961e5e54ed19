"""`cloudai submit` as a person uses it: a separate process with only the producer's environment."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fixtures.services import REPO

pytestmark = pytest.mark.integration


def _cloudai(redis_server, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **redis_server.env("producer")}
    return subprocess.run([sys.executable, "-m", "cloudai_tasks.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_submit_wait_shows_progress_and_prints_the_manifest(sandbox_worker, redis_server, tmp_path):
    data = tmp_path / "numbers.txt"
    data.write_text("1 2 3\n")
    done = _cloudai(redis_server, "submit", "--user", "alice", "--project", "cli", "--input", str(data),
                    "--limit", "wall_seconds=20", "--wait", "--",
                    "sh", "-c", "sleep 1.5; wc -w < /input/numbers.txt > /output/count.txt")

    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["exit_code"] == 0 and manifest["user_id"] == "alice" and manifest["project"] == "cli"
    assert [f["path"] for f in manifest["files"]] == ["count.txt"]
    assert "submitted task " + manifest["task_id"] in done.stderr
    assert "running" in done.stderr


def test_submit_exits_nonzero_for_a_failed_job_and_for_a_refused_one(sandbox_worker, redis_server):
    failed = _cloudai(redis_server, "submit", "--user", "alice", "--project", "cli", "--wait", "--", "false")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["exit_code"] == 1

    refused = _cloudai(redis_server, "submit", "--user", "alice", "--project", "cli", "--env", "API_TOKEN=x",
                       "--wait", "--", "true")
    assert refused.returncode == 1
    assert "looks like a secret" in refused.stderr and "submitted task" not in refused.stderr

    not_allowed = _cloudai(redis_server, "submit", "--user", "alice", "--project", "cli", "--image", "busybox",
                           "--wait", "--", "true")
    assert not_allowed.returncode == 1
    assert "not on this worker's allow-list" in not_allowed.stderr
