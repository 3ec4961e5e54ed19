"""One settings object, built once from the environment (and the config home's settings file).

Precedence: environment variable > ``<home>/settings.toml`` > built-in default. Every variable is
listed in ``ENV_VARS`` and in the README; nothing deeper in the package reads ``os.environ``.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Mapping

from .errors import ConfigError

ROLES = ("producer", "worker", "monitor", "admin")

#: Every environment variable the package reads, with what it means (rendered into the README).
ENV_VARS: dict[str, str] = {
    "CLOUDAI_HOME": "config home with keys, certificates, settings.toml, logs (default ~/.cloudai)",
    "CLOUDAI_BROKER_URL": "broker URL; must be rediss:// (memory:// only for unit tests)",
    "CLOUDAI_RESULT_BACKEND": "result backend URL; must be rediss:// (default: the broker URL)",
    "CLOUDAI_ROLE": "which client certificate this process presents: producer, worker, monitor or admin",
    "CLOUDAI_TLS_CA": "CA bundle that signs the Redis server certificate (default <home>/tls/ca.pem)",
    "CLOUDAI_TLS_CERT": "client certificate (default <home>/tls/<role>.pem)",
    "CLOUDAI_TLS_KEY": "client private key (default <home>/tls/<role>-key.pem)",
    "CLOUDAI_REDIS_PORT": "TLS port of the local Redis that `cloudai dev up` starts (default 6380)",
    "CLOUDAI_WORKER_CONCURRENCY": "worker processes per node (default: number of CPUs)",
    "CLOUDAI_PREFETCH_MULTIPLIER": "messages each worker process reserves ahead (default 4)",
    "CLOUDAI_VISIBILITY_TIMEOUT": "seconds before an unacknowledged job is redelivered (default 3600)",
    "DATABASE_URL": "SQLAlchemy URL of the index database (default sqlite:///<home>/cloudai.db)",
    "CLOUDAI_KEK": "master key-encryption key(s) as ID:BASE64[,ID:BASE64...], first current; environment only "
    "(default: <home>/keys/kek-<id> files made by `cloudai init`)",
    "CLOUDAI_WORKER_ID": "this worker node's name; its job directories live under <outputs>/<id> (default: the worker key's name, else host name)",
    "CLOUDAI_SANDBOX_OUTPUTS": "where workers keep per-job directories while a job runs (default <home>/outputs)",
    "CLOUDAI_SANDBOX_IMAGES": "allow-listed job images as NAME=sha256:ID[,NAME=REPO@sha256:DIGEST...] (default: none)",
    "CLOUDAI_SANDBOX_LIMITS": "hard maxima for job limits as KEY=VALUE[,...], e.g. wall_seconds=600,memory_mb=1024",
    "CLOUDAI_SANDBOX_REAP_INTERVAL": "seconds between sweeps for leftover job containers (default 60)",
    "CLOUDAI_STORAGE_ROOT": "where encrypted results are stored per user (default <home>/results)",
    "CLOUDAI_DOCKER_URL": "Docker daemon the sandbox uses (default unix:///var/run/docker.sock)",
    "CLOUDAI_WORKER_KEY": "a worker's signed key from `cloudai workers enroll`; also its broker password; "
    "environment only",
    "CLOUDAI_WORKER_KEY_FILE": "file holding the worker key instead (0600; `cloudai dev up` keeps one in <home>/workers)",
    "CLOUDAI_BROKER_SECRET_FILE": "broker ACL password of a producer, monitor or admin process "
    "(default <home>/broker/<role>.secret)",
    "CLOUDAI_WORKER_HEARTBEAT": "seconds between a worker's last_seen updates in the registry (default 30)",
    "CLOUDAI_SWEEP_INTERVAL": "seconds between control-plane sweeps: expired keys, ended rotation grace periods, "
    "jobs of cut-off workers (default 30)",
}


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("CLOUDAI_HOME") or Path.home() / ".cloudai").expanduser()


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a producer, worker or admin process needs to know, resolved and typed."""

    home: Path
    broker_url: str
    result_backend: str
    database_url: str = dataclasses.field(repr=False)  # may carry a password; Celery's `inspect conf` shows reprs
    role: str = "producer"
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    redis_port: int = 6380
    worker_concurrency: int | None = None
    prefetch_multiplier: int = 4
    visibility_timeout: int = 3600
    kek: str | None = dataclasses.field(default=None, repr=False)
    worker_id: str = ""
    sandbox_outputs: Path | None = None
    storage_root: Path | None = None
    sandbox_images: str = ""
    sandbox_limits: str = ""
    sandbox_reap_interval: int = 60
    docker_url: str = "unix:///var/run/docker.sock"
    worker_key: str | None = dataclasses.field(default=None, repr=False)
    broker_secret_file: Path | None = None
    worker_heartbeat: int = 30
    sweep_interval: int = 30

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "log"

    def for_role(self, role: str) -> "Settings":
        """The same settings presenting another role's client certificate (used by `cloudai dev`)."""
        _check_role(role)
        return dataclasses.replace(
            self,
            role=role,
            tls_cert=self.tls_dir / f"{role}.pem",
            tls_key=self.tls_dir / f"{role}-key.pem",
            broker_secret_file=self.home / "broker" / f"{role}.secret",
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = dict(os.environ if environ is None else environ)
        home = default_home(env)
        file_values = _read_settings_file(home / "settings.toml")

        def get(var: str, default: str | None = None) -> str | None:
            key = var.removeprefix("CLOUDAI_").lower()
            value = env.get(var) or file_values.get(key)
            return default if value in (None, "") else str(value)

        redis_port = _int(get("CLOUDAI_REDIS_PORT", "6380"), "CLOUDAI_REDIS_PORT", minimum=1)
        broker = get("CLOUDAI_BROKER_URL", f"rediss://localhost:{redis_port}/0")
        role = get("CLOUDAI_ROLE", "producer")
        _check_role(role)
        tls = home / "tls"
        concurrency = get("CLOUDAI_WORKER_CONCURRENCY")
        worker_key = env.get("CLOUDAI_WORKER_KEY") or _read_secret(get("CLOUDAI_WORKER_KEY_FILE"),
                                                                    "CLOUDAI_WORKER_KEY_FILE")
        return cls(
            home=home,
            broker_url=broker,
            result_backend=get("CLOUDAI_RESULT_BACKEND", broker),
            database_url=get("DATABASE_URL", f"sqlite:///{home / 'cloudai.db'}"),
            role=role,
            tls_ca=Path(get("CLOUDAI_TLS_CA", str(tls / "ca.pem"))),
            tls_cert=Path(get("CLOUDAI_TLS_CERT", str(tls / f"{role}.pem"))),
            tls_key=Path(get("CLOUDAI_TLS_KEY", str(tls / f"{role}-key.pem"))),
            redis_port=redis_port,
            worker_concurrency=None if concurrency is None else _int(concurrency, "CLOUDAI_WORKER_CONCURRENCY", minimum=1),
            prefetch_multiplier=_int(get("CLOUDAI_PREFETCH_MULTIPLIER", "4"), "CLOUDAI_PREFETCH_MULTIPLIER", minimum=1),
            visibility_timeout=_int(get("CLOUDAI_VISIBILITY_TIMEOUT", "3600"), "CLOUDAI_VISIBILITY_TIMEOUT", minimum=1),
            kek=env.get("CLOUDAI_KEK") or None,
            worker_id=get("CLOUDAI_WORKER_ID", _claimed_worker_id(worker_key) or os.uname().nodename),
            sandbox_outputs=Path(get("CLOUDAI_SANDBOX_OUTPUTS", str(home / "outputs"))),
            storage_root=Path(get("CLOUDAI_STORAGE_ROOT", str(home / "results"))),
            sandbox_images=get("CLOUDAI_SANDBOX_IMAGES", ""),
            sandbox_limits=get("CLOUDAI_SANDBOX_LIMITS", ""),
            sandbox_reap_interval=_int(get("CLOUDAI_SANDBOX_REAP_INTERVAL", "60"), "CLOUDAI_SANDBOX_REAP_INTERVAL",
                                       minimum=1),
            docker_url=get("CLOUDAI_DOCKER_URL", "unix:///var/run/docker.sock"),
            worker_key=worker_key,
            broker_secret_file=Path(get("CLOUDAI_BROKER_SECRET_FILE", str(home / "broker" / f"{role}.secret"))),
            worker_heartbeat=_int(get("CLOUDAI_WORKER_HEARTBEAT", "30"), "CLOUDAI_WORKER_HEARTBEAT", minimum=1),
            sweep_interval=_int(get("CLOUDAI_SWEEP_INTERVAL", "30"), "CLOUDAI_SWEEP_INTERVAL", minimum=1),
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ConfigError(f"CLOUDAI_ROLE={role!r} is not a role; use one of {', '.join(ROLES)}", setting="CLOUDAI_ROLE")


def _read_secret(path: str | None, var: str) -> str | None:
    """A secret kept in a file only its owner can read; refused (not silently used) if others can read it."""
    if path is None:
        return None
    from .security.private_files import read_private

    return read_private(Path(path), setting=var).decode().strip() or None


def _claimed_worker_id(worker_key: str | None) -> str | None:
    """The worker name a key claims, so the node's directories carry it; the bootstep verifies the key itself."""
    if not worker_key:
        return None
    from .security.worker_keys import read_claims
    from .errors import WorkerKeyRefused

    try:
        return read_claims(worker_key).worker_id
    except WorkerKeyRefused:
        return None


def _int(raw: str | None, var: str, *, minimum: int) -> int:
    try:
        value = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{var}={raw!r} is not a whole number", setting=var) from None
    if value < minimum:
        raise ConfigError(f"{var}={value} must be at least {minimum}", setting=var)
    return value


def _read_settings_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix or remove it, or run `cloudai init --force`") from e
