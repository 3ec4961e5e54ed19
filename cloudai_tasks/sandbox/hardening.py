"""The container a job runs in, locked down: every setting here is one of the sandbox's promises.

No network, a read-only root filesystem, no capabilities, no privilege gain, an unprivileged user, memory
with swap equal to it, CPU, pids and ulimits, a small noexec ``/tmp``, ``/input`` read-only and ``/output``
the only writable mount, no IPC namespace sharing or ``/dev/shm``, no log kept by Docker, and ``init`` as
PID 1 so orphans are reaped and signals reach the job. Nothing else of the host is mounted.
"""
from __future__ import annotations

from typing import Any, Mapping

from .limits import MIB, Limits
from .spec import JobSpec
from .workspace import SANDBOX_GID, SANDBOX_UID, JobDir

NOFILE = 1024
#: RLIMIT_NPROC counts every process of the uid on the host, and all jobs share one uid, so it only backstops
#: the per-container pids cgroup limit with room for a few concurrent jobs.
NPROC_PER_PIDS = 4
BASE_ENV = {
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def host_config(api: Any, limits: Limits, job: JobDir) -> dict[str, Any]:
    from docker.types import LogConfig, Mount, Ulimit

    memory = limits.memory_mb * MIB
    file_size = max(limits.output_bytes, limits.tmp_mb * MIB, 1)
    nproc = limits.pids * NPROC_PER_PIDS
    return api.create_host_config(
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        privileged=False,
        mem_limit=memory,
        memswap_limit=memory,
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=limits.pids,
        ulimits=[Ulimit(name="nofile", soft=NOFILE, hard=NOFILE), Ulimit(name="nproc", soft=nproc, hard=nproc),
                 Ulimit(name="fsize", soft=file_size, hard=file_size), Ulimit(name="core", soft=0, hard=0)],
        tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={limits.tmp_mb}m"},
        mounts=[Mount(target="/input", source=str(job.input), type="bind", read_only=True),
                Mount(target="/output", source=str(job.output), type="bind", read_only=False)],
        ipc_mode="none",
        init=True,
        log_config=LogConfig(type="none"),
        oom_score_adj=500,
        auto_remove=False,
    )


def container_config(api: Any, *, image_id: str, spec: JobSpec, job: JobDir,
                     labels: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for ``APIClient.create_container``; the entrypoint is the job's argv[0], always."""
    env = {**BASE_ENV, **dict(spec.env)}
    return {
        "image": image_id,
        "entrypoint": [spec.command[0]],
        "command": list(spec.command[1:]),
        "user": f"{SANDBOX_UID}:{SANDBOX_GID}",
        "environment": [f"{k}={v}" for k, v in env.items()],
        "working_dir": "/output",
        "hostname": "sandbox",
        "labels": dict(labels),
        "network_disabled": True,
        "stdin_open": False,
        "tty": False,
        "host_config": host_config(api, spec.limits, job),
    }
