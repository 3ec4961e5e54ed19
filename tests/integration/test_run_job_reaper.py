"""No leftovers: a job container whose worker was SIGKILLed is removed by the reaper (at start and periodically)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from cloudai_tasks.sandbox import labels
from cloudai_tasks.sandbox.workspace import WorkerDirs, sweep_job_dirs
from tests.fixtures.docker import job, job_containers

from tests.fixtures.services import wait_for

pytestmark = pytest.mark.integration



def _start_orphan(celery_worker, sandbox_env, producer_app, docker_client, queue: str, worker_id: str,
                  *, check_outlives: bool = True):
    """Start a long job on a dedicated worker, SIGKILL that worker, and return the container left behind."""
    env = {**sandbox_env, "CLOUDAI_WORKER_ID": worker_id, "CLOUDAI_SANDBOX_REAP_INTERVAL": "3600"}
    doomed = celery_worker(env=env, queues=queue)
    spec = job(["sleep", "3600"], limits={"wall_seconds": 3600})
    result = producer_app.signature("cloudai.run_job", args=(spec,)).apply_async(queue=queue, ignore_result=True)
    container = wait_for(lambda: [c for c in job_containers(docker_client, result.id) if c["State"] == "running"],
                          30, "the job container")[0]
    doomed.stop(signal.SIGKILL)
    if check_outlives:
        time.sleep(0.5)
        assert job_containers(docker_client, result.id), "the container outlives its SIGKILLed worker"
    return container, env


def test_container_of_a_killed_worker_is_removed_when_a_worker_starts(celery_worker, sandbox_env, producer_app,
                                                                      docker_client):
    container, env = _start_orphan(celery_worker, sandbox_env, producer_app, docker_client, "reap-start", "reap-a")
    jobs_dir = os.path.join(sandbox_env["CLOUDAI_SANDBOX_OUTPUTS"], "reap-a", "jobs")
    assert len(os.listdir(jobs_dir)) == 1

    successor = celery_worker(env=env, queues="reap-start-other")

    assert job_containers(docker_client, container["Labels"][labels.TASK_ID]) == []
    assert f"removed leftover job container {container['Id'][:12]}" in successor.log_text()
    assert os.listdir(jobs_dir) == [], "the leftover job directory (and its tmpfs) is swept too"


def test_periodic_reaper_removes_leftovers_while_a_worker_runs(celery_worker, sandbox_env, producer_app,
                                                               docker_client):
    watcher = celery_worker(env={**sandbox_env, "CLOUDAI_WORKER_ID": "reap-watcher",
                                 "CLOUDAI_SANDBOX_REAP_INTERVAL": "1"}, queues="reap-periodic-other")
    # The watcher started before the orphan existed, so only a periodic sweep can remove it.
    container, _ = _start_orphan(celery_worker, sandbox_env, producer_app, docker_client, "reap-periodic", "reap-b",
                                 check_outlives=False)

    wait_for(lambda: not job_containers(docker_client, container["Labels"][labels.TASK_ID]), 15,
              "the periodic reaper")
    assert f"removed leftover job container {container['Id'][:12]}" in watcher.log_text()
    # Job directories are per worker id: the dead worker's is swept by the next worker with its id.
    dirs = WorkerDirs(Path(sandbox_env["CLOUDAI_SANDBOX_OUTPUTS"]) / "reap-b")
    assert sweep_job_dirs(dirs) == [container["Labels"][labels.TASK_ID]]
