"""`cloudai dev up|down`: the local stack as background processes with pid files and logs in the config home.

The stack is TLS Redis with the home's ACL users, one worker enrolled as ``local`` (its key kept 0600 in
``<home>/workers/``, renewed when it no longer works) and the control process: Celery beat plus a worker for the
control queue, logged in as the admin ACL user, which expires keys and redelivers jobs of cut-off workers.

``down`` stops exactly the processes ``up`` started: a pid file records the pid with the process's start time
(``/proc/PID/stat`` field 22), so a recycled pid is never signalled.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from .errors import CloudAIError, ServiceError
from .procinfo import start_time
from .security.broker_acl import CONTROL_QUEUE
from .security.broker_credentials import credentials_for
from .security.transport import redis_client
from .settings import Settings

LOCAL_WORKER = "local"


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 30.0
    umask: int = -1


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
        if start_time(pid) != started:
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
                                    env={**_inherited_env(), **service.env}, start_new_session=True,
                                    umask=service.umask)
        self.pidfile(service.name).write_text(f"{proc.pid} {start_time(proc.pid)}\n")
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
        while time.monotonic() < deadline and start_time(pid) is not None:
            time.sleep(0.1)
        if start_time(pid) is not None:
            os.killpg(pid, signal.SIGKILL)
        self.pidfile(name).unlink(missing_ok=True)
        return True


def _inherited_env() -> dict[str, str]:
    """The caller's environment minus a worker key of its own: the local worker reads its key from its file, and
    Redis and the control process have no use for one (it would also outrank the file)."""
    return {k: v for k, v in os.environ.items() if k != "CLOUDAI_WORKER_KEY"}


def redis_service(settings: Settings) -> Service:
    conf = settings.home / "redis.conf"
    if not conf.exists():
        raise ServiceError(f"{conf} is missing; run `cloudai init` first")
    admin = settings.for_role("admin")
    creds = credentials_for(admin)
    client = redis_client(admin.broker_url, admin.tls_ca, admin.tls_cert, admin.tls_key, username=creds.username,
                          password=creds.password, socket_timeout=1, socket_connect_timeout=1)
    # umask: Redis rewrites its ACL file (password hashes) on every change; keep it 0600 like the rest of the home.
    return Service("redis", ["redis-server", str(conf)], ready=client.ping, umask=0o077)


def _ping(settings: Settings, node: str) -> Callable[[], bool]:
    from .app import create_app

    probe = create_app(settings.for_role("admin"))
    return lambda: bool(probe.control.ping(destination=[node], timeout=0.5))


def worker_service(settings: Settings, key_file: Path, *, queues: str = "celery",
                   concurrency: int | None = None) -> Service:
    node = f"{LOCAL_WORKER}@{os.uname().nodename}"
    argv = [sys.executable, "-m", "celery", "-A", "cloudai_tasks", "worker", "-l", "info", "-Q", queues, "-n", node]
    if concurrency:
        argv += ["-c", str(concurrency)]
    env = {"CLOUDAI_HOME": str(settings.home), "CLOUDAI_ROLE": "worker", "CLOUDAI_WORKER_KEY_FILE": str(key_file)}
    return Service("worker", argv, env=env, ready=_ping(settings, node), ready_timeout=60)


def control_service(settings: Settings) -> Service:
    """Beat and the control-queue worker in one process (fine for one machine; run them apart in production)."""
    node = f"control@{os.uname().nodename}"
    argv = [sys.executable, "-m", "celery", "-A", "cloudai_tasks", "worker", "-l", "info", "-Q", CONTROL_QUEUE,
            "-c", "1", "-n", node, "-B", "-s", str(settings.run_dir / "beat-schedule")]
    env = {"CLOUDAI_HOME": str(settings.home), "CLOUDAI_ROLE": "admin"}
    return Service("control", argv, env=env, ready=_ping(settings, node), ready_timeout=60)


def local_worker_key(settings: Settings, *, queues: tuple[str, ...] = ("celery",)) -> Path:
    """The local worker's key file (0600): kept while it still works, otherwise renewed through the registry."""
    from .security import worker_registry
    from .security.broker_users import BrokerAdmin
    from .security.private_files import make_private_dir, write_private
    from .security.signing_key import load_signing_key, load_verify_keys
    from .security.worker_join import key_standing
    from .security.worker_keys import verify
    from .storage.db import index_sessions, make_engine
    from .storage.migrate import upgrade
    from .storage.models import Worker, utcnow

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    path = make_private_dir(settings.home / "workers") / f"{LOCAL_WORKER}.key"
    sessions = index_sessions(settings.database_url)
    broker = BrokerAdmin.connect(settings, socket_timeout=10)
    try:
        with sessions.begin() as session:
            worker_registry.sync(session, broker)
            try:
                claims = verify(path.read_text().strip(), load_verify_keys(settings.home))
                key_standing(session, claims, utcnow())
                if claims.expires_at - utcnow().timestamp() > 24 * 3600:
                    return path
            except (OSError, CloudAIError):
                pass
            row = session.get(Worker, LOCAL_WORKER)
            signing_key = load_signing_key(settings.home)
            if row is not None and row.status != "revoked":
                key = worker_registry.rotate(session, broker, signing_key, LOCAL_WORKER, grace=dt.timedelta(0),
                                             actor="dev-up")
            else:
                key = worker_registry.enroll(session, broker, signing_key, LOCAL_WORKER, queues, actor="dev-up")
            write_private(path, f"{key.token}\n".encode(), overwrite=True)
    finally:
        broker.close()
    return path


#: Services in start order; ``down`` stops them in reverse.
STACK_ORDER = ("redis", "worker", "control")


def up(settings: Settings) -> dict[str, int]:
    registry = ProcessRegistry(settings)
    started = {"redis": registry.start(redis_service(settings))}
    key_file = local_worker_key(settings)
    started["worker"] = registry.start(worker_service(settings, key_file))
    started["control"] = registry.start(control_service(settings))
    return started


def down(settings: Settings) -> list[str]:
    registry = ProcessRegistry(settings)
    return [name for name in reversed(STACK_ORDER) if registry.stop(name)]
