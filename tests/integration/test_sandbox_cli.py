"""`cloudai sandbox build-image` and `cloudai sandbox reap` against the real Docker daemon."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cloudai_tasks.sandbox import labels
from cloudai_tasks.sandbox.owner import namespace_key
from tests.fixtures.docker import DOCKER_URL, job_containers
from tests.fixtures.services import REPO

pytestmark = pytest.mark.integration


def _cloudai(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CLOUDAI_DOCKER_URL": DOCKER_URL, "CLOUDAI_HOME": "/nonexistent"}
    return subprocess.run([sys.executable, "-m", "cloudai_tasks.cli", "sandbox", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_build_image_prints_the_id_to_pin_and_reuses_the_same_recipe(sandbox_image):
    done = _cloudai("build-image")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sandbox_image.id
    assert f"CLOUDAI_SANDBOX_IMAGES=python={sandbox_image.id}" in done.stderr and "reused" in done.stderr


def test_reap_removes_a_container_whose_owner_is_gone(docker_client, sandbox_image):
    api = docker_client.api
    dead_owner = f"{namespace_key()}/{2**22 + 17}/1"  # above the default pid_max: never a live process
    for _ in range(3):  # any worker's periodic sweep may win the race for the orphan; then try again
        orphan = api.create_container(sandbox_image.id, ["sleep", "60"], labels={
            labels.MARK: "1", labels.TASK_ID: "cli-orphan", labels.OWNER: dead_owner,
            labels.DEADLINE: str(int(time.time()) + 3600)}, host_config=api.create_host_config(network_mode="none"))
        api.start(orphan["Id"])
        done = _cloudai("reap")
        assert done.returncode == 0, done.stderr
        assert job_containers(docker_client, "cli-orphan") == []
        if f"removed {orphan['Id'][:12]} (task cli-orphan): its worker process is gone" in done.stdout:
            break
    else:
        raise AssertionError(f"`cloudai sandbox reap` never reported the orphan:\n{done.stdout}")
