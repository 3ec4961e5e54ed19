"""The container configuration: every hardening setting is present for every job (no daemon needed)."""
from __future__ import annotations

import docker
import pytest

from cloudai_tasks.sandbox.hardening import container_config
from cloudai_tasks.sandbox.limits import MIB, Limits
from cloudai_tasks.sandbox.spec import JobSpec
from cloudai_tasks.sandbox.workspace import JobDir


@pytest.fixture
def config(tmp_path):
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    spec = JobSpec(user_id="alice", project="p", image="python", command=("python3", "-c", "print(1)"),
                   env=(("MODE", "x"), ("HOME", "/tmp/h")),
                   limits=Limits(memory_mb=200, cpus=1.5, pids=40, output_bytes=5 * MIB, tmp_mb=8))
    return container_config(api, image_id="sha256:" + "a" * 64, spec=spec, job=JobDir(tmp_path / "job"),
                            labels={"cloudai.sandbox": "1"})


def test_job_runs_as_nobody_with_its_own_argv_as_entrypoint(config):
    assert config["user"] == "65534:65534"
    assert config["entrypoint"] == ["python3"] and config["command"] == ["-c", "print(1)"]
    assert config["image"].startswith("sha256:")
    assert "MODE=x" in config["environment"] and "HOME=/tmp/h" in config["environment"]
    assert config["network_disabled"] is True and config["tty"] is False


def test_host_config_locks_everything_down(config, tmp_path):
    host = config["host_config"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and "CapAdd" not in host
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host.get("Privileged", False) is False
    assert host["Memory"] == host["MemorySwap"] == 200 * MIB
    assert host["NanoCpus"] == 1_500_000_000
    assert host["PidsLimit"] == 40
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    assert ulimits == {"nofile": (1024, 1024), "nproc": (160, 160), "fsize": (8 * MIB, 8 * MIB), "core": (0, 0)}
    assert host["Tmpfs"] == {"/tmp": "rw,noexec,nosuid,nodev,size=8m"}
    assert [(m["Target"], m["Source"], m["ReadOnly"], m["Type"]) for m in host["Mounts"]] == [
        ("/input", str(tmp_path / "job" / "input"), True, "bind"),
        ("/output", str(tmp_path / "job" / "output"), False, "bind")]
    assert "Binds" not in host and "Devices" not in host and "VolumesFrom" not in host
    assert host["IpcMode"] == "none" and host["Init"] is True
    assert host["LogConfig"]["Type"] == "none"
    assert host.get("AutoRemove", False) is False
