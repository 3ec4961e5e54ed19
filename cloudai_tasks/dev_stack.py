"""`cloudai dev up|down`: the local stack as background processes with pid files and logs in the config home.

``down`` stops exactly the processes ``up`` started: a pid file records the pid with the process's start time
(``/proc/PID/stat`` field 22), so a recycled pid is never signalled.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from .errors import ServiceError
from .security.transport import redis_client
from .settings import Settings


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 30.0


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not ready yet; the last error is reported via the log
            pass
        time.sleep(0.1)
    hint = f"; see {log}" if log else ""
    raise ServiceError(f"{what} did not become ready within {timeout:.0f} s{hint}")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [0] is the state, [19] the start time."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields and fields[0] != "Z" else None


class ProcessRegistry:
    """Pid files and logs of background services under ``<home>/run`` and ``<home>/log``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_dir = settings.run_dir
        self.log_dir = settings.log_dir

    def pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def running(self, name: str) -> int | None:
        """The pid of ``name`` if it still runs the command we started, else None (and the stale file goes)."""
        pidfile = self.pidfile(name)
        try:
            pid_text, started = pidfile.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if _start_time(pid) != started:
            pidfile.unlink(missing_ok=True)
            return None
        return pid

    def start(self, service: Service) -> int:
        pid = self.running(service.name)
        if pid is not None:
            return pid
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_path = self.log(service.name)
        with open(log_path, "ab") as log:
            os.chmod(log_path, 0o600)
            proc = subprocess.Popen(service.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **service.env}, start_new_session=True)
        self.pidfile(service.name).write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        if service.ready is not None:
            try:
                wait_until(lambda: proc.poll() is None and service.ready(), service.ready_timeout,
                           service.name, log_path)
            except ServiceError:
                self.stop(service.name)
                raise
        return proc.pid

    def stop(self, name: str, timeout: float = 15.0) -> bool:
        pid = self.running(name)
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _start_time(pid) is not None:
            time.sleep(0.1)
        if _start_time(pid) is not None:
            os.killpg(pid, signal.SIGKILL)
        self.pidfile(name).unlink(missing_ok=True)
        return True


def redis_service(settings: Settings) -> Service:
    conf = settings.home / "redis.conf"
    if not conf.exists():
        raise ServiceError(f"{conf} is missing; run `cloudai init` first")
    client = redis_client(settings.broker_url, settings.tls_ca, settings.tls_cert, settings.tls_key,
                          socket_timeout=1, socket_connect_timeout=1)
    return Service("redis", ["redis-server", str(conf)], ready=client.ping)


def worker_service(settings: Settings, *, queues: str = "celery", concurrency: int | None = None) -> Service:
    argv = [sys.executable, "-m", "celery", "-A", "cloudai_tasks", "worker", "-l", "info", "-Q", queues,
            "-n", f"worker@{os.uname().nodename}"]
    if concurrency:
        argv += ["-c", str(concurrency)]
    env = {"CLOUDAI_HOME": str(settings.home), "CLOUDAI_ROLE": "worker"}
    from .app import create_app

    probe = create_app(settings.for_role("admin"))
    return Service("worker", argv, env=env, ready=lambda: bool(probe.control.ping(timeout=0.5)), ready_timeout=60)


#: Services in start order; ``down`` stops them in reverse.
STACK_ORDER = ("redis", "worker")


def up(settings: Settings) -> dict[str, int]:
    registry = ProcessRegistry(settings)
    return {"redis": registry.start(redis_service(settings)), "worker": registry.start(worker_service(settings))}


def down(settings: Settings) -> list[str]:
    registry = ProcessRegistry(settings)
    return [name for name in reversed(STACK_ORDER) if registry.stop(name)]
