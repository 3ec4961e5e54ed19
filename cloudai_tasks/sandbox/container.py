"""One container's life: create, attach the capped log capture, start, enforce the deadline, remove.

Docker's ``wait(timeout=)`` is only an HTTP timeout and leaves the container running, so the deadline is
the worker's: past it the container is killed and the job reported as timed out. The container is always
removed here; if the worker dies first, its labels let the reaper find it.
"""
from __future__ import annotations

import dataclasses
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import SandboxError
from .docker_api import API_TIMEOUT_SECONDS, Docker
from .logs import LogCapture, LogFile

#: How long the log stream may take to end after the container stopped before the worker closes it.
STREAM_GRACE_SECONDS = 5.0
EXIT_FILE_TOO_LARGE = 128 + signal.SIGXFSZ


@dataclasses.dataclass(frozen=True)
class RunResult:
    exit_code: int | None
    kill_reason: str | None
    started_at: float
    duration: float
    logs: dict[str, LogFile]


class _Killer:
    """Kills the container once, remembering the first reason (timeout, memory, output_cap)."""

    def __init__(self, api: Any, container_id: str) -> None:
        self.api, self.container_id = api, container_id
        self.reason: str | None = None
        self._lock = threading.Lock()

    def note(self, reason: str) -> None:
        with self._lock:
            self.reason = self.reason or reason

    def kill(self, reason: str) -> None:
        self.note(reason)
        from docker import errors

        try:
            self.api.kill(self.container_id)
        except errors.NotFound:
            pass
        except errors.APIError as e:
            if e.status_code != 409:  # 409: no longer running, which is what we wanted
                raise SandboxError(f"could not kill job container {self.container_id[:12]}: {e}") from e


def _wait(api: Any, container_id: str, deadline: float, killer: _Killer) -> dict[str, Any]:
    import requests

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            killer.kill("timeout")
            return api.wait(container_id, timeout=API_TIMEOUT_SECONDS)
        try:
            return api.wait(container_id, timeout=remaining)
        except requests.exceptions.Timeout:
            continue
        except requests.exceptions.ConnectionError as e:
            if "timed out" not in str(e).lower():
                raise SandboxError(f"lost the connection to Docker while the job ran: {e}") from e


def run_container(docker: Docker, config: dict[str, Any], *, wall_seconds: float, log_dir: Path, log_cap: int,
                  on_started: Callable[[float], None] | None = None) -> RunResult:
    """Run a created-from-``config`` container to its end or deadline; the container is gone afterwards."""
    from docker import errors

    api = docker.api
    try:
        container_id = api.create_container(**config)["Id"]
    except errors.DockerException as e:
        raise SandboxError(f"could not create the job container: {e}") from e
    try:
        return _run(docker, container_id, wall_seconds, log_dir, log_cap, on_started)
    except errors.DockerException as e:
        raise SandboxError(f"the job container failed: {e}") from e
    finally:
        try:
            api.remove_container(container_id, force=True)
        except errors.NotFound:
            pass
        except errors.DockerException:
            pass  # the reaper removes it: its labels say whose it was and until when it may live


def _run(docker: Docker, container_id: str, wall_seconds: float, log_dir: Path, log_cap: int,
         on_started: Callable[[float], None] | None) -> RunResult:
    api = docker.api
    killer = _Killer(api, container_id)
    # Killed from a thread of its own: the capture must keep draining, or dockerd blocks the kill on the stream.
    capture = LogCapture(log_dir, log_cap, on_cap=lambda: threading.Thread(
        target=killer.kill, args=("output_cap",), name="cloudai-job-kill", daemon=True).start())
    try:
        stream = docker.stream.attach(container_id, stdout=True, stderr=True, stream=True, demux=True)
        capture.start(stream)
        api.start(container_id)
        started_at, t0 = time.time(), time.monotonic()
        if on_started is not None:
            on_started(started_at)
        status = _wait(api, container_id, t0 + wall_seconds, killer)
        duration = time.monotonic() - t0
        if not capture.join(STREAM_GRACE_SECONDS):
            stream.close()
            capture.join(STREAM_GRACE_SECONDS)
        state = api.inspect_container(container_id)["State"]
    finally:
        logs = capture.close()
    exit_code = status.get("StatusCode")
    if state.get("OOMKilled"):
        killer.note("memory")
    elif exit_code == EXIT_FILE_TOO_LARGE:
        killer.note("output_cap")
    return RunResult(exit_code=exit_code, kill_reason=killer.reason, started_at=started_at, duration=duration,
                     logs=logs)
