"""run_job end to end through a real worker: the manifest, where output goes, refused jobs, cleanliness."""
from __future__ import annotations

import json
import time

import pytest

from cloudai_tasks.errors import JobRejected
from pathlib import Path

from tests.fixtures.docker import job, job_containers, submit
from tests.fixtures.storage import stored_names, stored_output

pytestmark = pytest.mark.integration


def test_manifest_describes_the_job_and_its_files(sandbox_worker, sandbox_producer, redis_server,
                                                  no_leftover_containers):
    spec = job(["sh", "-c", "cat /input/greeting.txt > /output/copy.txt; mkdir /output/sub; "
                            "printf 12345 > /output/sub/n.txt; exit 7"],
               inputs={"greeting.txt": "hello sandbox\n"})
    result = submit(sandbox_producer, spec)
    manifest = result.get(timeout=60)

    assert manifest["task_id"] == result.id
    assert (manifest["user_id"], manifest["project"], manifest["image"]) == ("alice", "tests", "python")
    assert manifest["image_id"].startswith("sha256:")
    assert manifest["exit_code"] == 7 and manifest["killed"] is False and manifest["kill_reason"] is None
    assert 0 < manifest["duration_seconds"] < 20
    by_path = {f["path"]: f for f in manifest["files"]}
    assert set(by_path) == {"copy.txt", "sub/n.txt"}
    assert by_path["sub/n.txt"]["size"] == 5
    assert by_path["sub/n.txt"]["sha256"] == "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5"
    assert stored_names(manifest) == ["output/copy.txt", "output/sub/n.txt", "stderr", "stdout"]
    assert stored_output(redis_server, manifest, "output/copy.txt") == b"hello sandbox\n"
    assert stored_output(redis_server, manifest, "output/sub/n.txt") == b"12345"
    task_dir = redis_server.settings().storage_root / "alice" / "tests"
    files = [p for p in task_dir.rglob("*") if p.is_file() and manifest["task_id"] in str(p)]
    assert len(files) == 4 and all(p.stat().st_mode & 0o777 == 0o600 for p in files)
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in task_dir.rglob("*") if p.is_dir())
    assert not any(b"hello sandbox" in p.read_bytes() for p in files), "results must be encrypted on disk"
    worker_dir = Path(sandbox_worker.env["CLOUDAI_SANDBOX_OUTPUTS"]) / "sandbox-tests"
    assert not [p for p in worker_dir.rglob("*") if p.is_file()], "no plaintext may stay on the worker"


def test_stdout_and_stderr_are_capped_files_never_in_result_or_worker_log(
        sandbox_worker, sandbox_producer, redis_server, no_leftover_containers):
    marker_out, marker_err = "OUT-7f3a9c-marker", "ERR-51b2e8-marker"
    spec = job(["sh", "-c", f"echo {marker_out}; echo {marker_err} >&2; head -c 50000 /dev/zero | tr '\\0' x"],
               limits={"wall_seconds": 20, "log_bytes": 1000})
    result = submit(sandbox_producer, spec)
    manifest = result.get(timeout=60)

    stdout = stored_output(redis_server, manifest, "stdout")
    assert stdout.startswith(marker_out.encode()) and len(stdout) == 1000
    assert stored_output(redis_server, manifest, "stderr") == (marker_err + "\n").encode()
    assert manifest["logs"]["stdout"] == {"size": 1000, "sha256": manifest["logs"]["stdout"]["sha256"],
                                          "truncated": True}
    assert manifest["kill_reason"] == "output_cap"
    stored_result = redis_server.client().get(f"celery-task-meta-{result.id}")
    for text in (json.dumps(manifest), stored_result.decode(), sandbox_worker.log_text()):
        assert marker_out not in text and marker_err not in text


def test_refused_job_says_why_and_the_worker_keeps_running(sandbox_worker, sandbox_producer, docker_client):
    bad = job(["true"], limits={"memory_mb": 10**6})
    with pytest.raises(JobRejected, match="memory_mb"):
        submit(sandbox_producer, bad).get(timeout=60)
    with pytest.raises(JobRejected, match="unknown field"):
        submit(sandbox_producer, {**job(["true"]), "privileged": True}).get(timeout=60)
    with pytest.raises(JobRejected, match="user_id"):
        submit(sandbox_producer, job(["true"], user_id="../bob")).get(timeout=60)
    assert submit(sandbox_producer, job(["true"])).get(timeout=60)["exit_code"] == 0
    assert sandbox_worker.proc.poll() is None


def test_image_not_on_the_allow_list_is_refused_before_any_container_starts(
        sandbox_worker, sandbox_producer, docker_client, sandbox_image):
    since = int(time.time()) - 1
    for image in ("cloudai-sandbox/python:bookworm", "busybox", sandbox_image.id[:19]):
        result = submit(sandbox_producer, job(["true"], image=image))
        with pytest.raises(JobRejected, match="not on this worker's allow-list"):
            result.get(timeout=60)
        events = docker_client.api.events(since=since, until=int(time.time()) + 1, decode=True,
                                          filters={"type": "container", "label": f"cloudai.task_id={result.id}"})
        assert list(events) == []
        assert job_containers(docker_client, result.id) == []


def test_job_for_an_unknown_user_is_refused_before_it_runs(sandbox_worker, sandbox_producer, docker_client,
                                                           no_leftover_containers):
    result = submit(sandbox_producer, job(["sh", "-c", "echo ran > /output/x"], user_id="nobody-here"))
    with pytest.raises(JobRejected, match="user_id: user 'nobody-here' does not exist"):
        result.get(timeout=60)
    assert job_containers(docker_client, result.id) == []
