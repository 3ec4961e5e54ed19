"""`docker inspect` of a running job container (started by a real worker) shows every hardening setting."""
from __future__ import annotations

import time

import pytest

from cloudai_tasks.sandbox import labels
from tests.fixtures.docker import job, job_containers, submit

pytestmark = pytest.mark.integration


def _running_container(docker_client, task_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in job_containers(docker_client, task_id):
            if c["State"] == "running":
                return docker_client.api.inspect_container(c["Id"])
        time.sleep(0.05)
    raise AssertionError(f"no running container for task {task_id}")


def test_inspect_of_a_running_job_container_shows_every_setting(sandbox_worker, sandbox_producer, docker_client,
                                                                sandbox_image, no_leftover_containers):
    result = submit(sandbox_producer, job(["sleep", "3"], limits={"wall_seconds": 20, "memory_mb": 128,
                                                                  "cpus": 0.5, "pids": 48, "tmp_mb": 16}))
    info = _running_container(docker_client, result.id)
    host, config = info["HostConfig"], info["Config"]

    assert info["Image"] == sandbox_image.id
    assert host["NetworkMode"] == "none" and config.get("NetworkDisabled") is True
    assert set(info["NetworkSettings"]["Networks"]) <= {"none"}
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["Privileged"] is False
    assert config["User"] == "65534:65534"
    assert host["Memory"] == host["MemorySwap"] == 128 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 48
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    assert set(ulimits) == {"nofile", "nproc", "fsize", "core"}
    assert ulimits["nofile"] == (1024, 1024) and ulimits["nproc"] == (48 * 4, 48 * 4)
    assert ulimits["fsize"] == (64 * 1024 * 1024,) * 2 and ulimits["core"] == (0, 0)
    assert host["Tmpfs"] == {"/tmp": "rw,noexec,nosuid,nodev,size=16m"}
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert set(mounts) == {"/input", "/output"}
    assert mounts["/input"]["Type"] == "bind" and mounts["/input"]["RW"] is False
    assert mounts["/output"]["Type"] == "bind" and mounts["/output"]["RW"] is True
    assert all(m["Source"].startswith(sandbox_worker.env["CLOUDAI_SANDBOX_OUTPUTS"]) for m in mounts.values())
    assert not host.get("Binds") and not host.get("VolumesFrom") and not host.get("Devices")
    assert "docker.sock" not in str(info)
    assert host["IpcMode"] == "none"
    assert host["Init"] is True
    assert host["LogConfig"]["Type"] == "none"
    assert host["AutoRemove"] is False
    assert config["Labels"][labels.MARK] == "1" and config["Labels"][labels.TASK_ID] == result.id
    assert config["Labels"][labels.WORKER_ID] == "sandbox-tests"
    assert float(config["Labels"][labels.DEADLINE]) > time.time()
    assert result.get(timeout=60)["exit_code"] == 0
