"""Removing job containers that outlived their job (worker crash, SIGKILL), at worker start and periodically.

A container of ours is a leftover when the worker process that started it is gone (judged only for owners
in our own pid namespace), or, whoever owns it, when its deadline label has passed: a live worker kills its
job at the deadline and removes it right after. Running jobs of live workers are never touched.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from celery import bootsteps

from ..errors import CloudAIError
from . import labels
from .docker_api import connect
from .owner import owner_alive
from .workspace import sweep_job_dirs, worker_dirs

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Reaped:
    container_id: str
    task_id: str
    why: str


def leftover_reason(container_labels: dict[str, str], now: float) -> str | None:
    """Why a container with these labels should go, or None if it may belong to a running job."""
    if owner_alive(container_labels.get(labels.OWNER, "")) is False:
        return "its worker process is gone"
    try:
        deadline = float(container_labels.get(labels.DEADLINE, "0"))
    except ValueError:
        deadline = 0.0
    if deadline < now:
        return "past its deadline"
    return None


def reap_containers(api: Any, *, now: float | None = None) -> list[Reaped]:
    """Remove every leftover job container on this Docker daemon; returns what was removed."""
    import docker.errors

    now = time.time() if now is None else now
    reaped = []
    for container in api.containers(all=True, filters={"label": f"{labels.MARK}=1"}):
        container_labels = container.get("Labels") or {}
        why = leftover_reason(container_labels, now)
        if why is None:
            continue
        try:
            api.remove_container(container["Id"], force=True)
        except docker.errors.NotFound:
            continue
        reaped.append(Reaped(container["Id"], container_labels.get(labels.TASK_ID, "?"), why))
    return reaped


class SandboxReaper(bootsteps.StartStopStep):
    """Worker bootstep: sweep before the first job is consumed, then every ``sandbox_reap_interval`` seconds.

    Runs in the worker's main process on its timer. A worker without Docker still starts (it may serve other
    tasks); the sweep logs why it could not run and tries again next time.
    """

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.settings = worker.app.settings
        self.tref = None

    def start(self, worker: Any) -> None:
        self.sweep()
        self.tref = worker.timer.call_repeatedly(self.settings.sandbox_reap_interval, self.sweep)

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def sweep(self) -> None:
        import docker.errors

        try:
            removed = reap_containers(connect(self.settings.docker_url).api)
            dirs = sweep_job_dirs(worker_dirs(self.settings))
        except (CloudAIError, docker.errors.DockerException, OSError) as e:
            logger.warning("sandbox reaper could not run: %s", e)
            return
        for r in removed:
            logger.warning("removed leftover job container %s of task %s: %s", r.container_id[:12], r.task_id, r.why)
        if dirs:
            logger.warning("removed %d leftover job directories: %s", len(dirs), ", ".join(dirs))
