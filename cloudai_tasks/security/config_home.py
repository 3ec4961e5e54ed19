"""`cloudai init`: a private config home with a CA, TLS certificates, a Redis config and a settings file."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..settings import ROLES
from .broker_home import ACL_FILE, init_broker_files
from .pki import Issued, create_ca, issue
from .private_files import make_private_dir, write_private
from .redis_conf import render_redis_conf

DEFAULT_HOSTS = ("localhost", "127.0.0.1")


@dataclass
class InitReport:
    """What `init` created and what it kept; printed to the user."""

    home: Path
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def _pair(tls: Path, stem: str) -> tuple[Path, Path]:
    return tls / f"{stem}.pem", tls / f"{stem}-key.pem"


def _load(tls: Path, stem: str) -> Issued | None:
    cert, key = _pair(tls, stem)
    if cert.exists() and key.exists():
        return Issued(cert.read_bytes(), key.read_bytes())
    return None


def _store(report: InitReport, tls: Path, stem: str, issued: Issued) -> None:
    cert, key = _pair(tls, stem)
    write_private(key, issued.key_pem, overwrite=True)
    write_private(cert, issued.cert_pem, overwrite=True)
    report.created += [cert, key]


def init_home(home: Path, *, hosts: Iterable[str] = (), force: bool = False, redis_port: int = 6380) -> InitReport:
    """Create (or complete) the config home. Existing keys are kept unless ``force`` is set."""
    home = make_private_dir(Path(home).expanduser())
    report = InitReport(home=home)
    tls = make_private_dir(home / "tls")
    for sub in ("run", "log", "redis"):
        make_private_dir(home / sub)

    ca = None if force else _load(tls, "ca")
    reissue_all = ca is None
    if ca is None:
        ca = create_ca()
        _store(report, tls, "ca", ca)
    else:
        report.kept += list(_pair(tls, "ca"))

    leaves = {"redis": list(dict.fromkeys([*DEFAULT_HOSTS, *hosts]))} | {role: None for role in ROLES}
    for stem, server_hosts in leaves.items():
        if not reissue_all and _load(tls, stem) is not None:
            report.kept += list(_pair(tls, stem))
            continue
        _store(report, tls, stem, issue(ca, f"cloudai-{stem}", server_hosts=server_hosts))

    created, kept = init_broker_files(home, force=force)
    report.created += created
    report.kept += kept

    conf = render_redis_conf(port=redis_port, tls_dir=tls, data_dir=home / "redis", aclfile=home / ACL_FILE)
    settings = (
        "# CloudAI Tasks settings; environment variables (CLOUDAI_*, DATABASE_URL) override these.\n"
        f'broker_url = "rediss://localhost:{redis_port}/0"\n'
        f"redis_port = {redis_port}\n"
    )
    for path, text in ((home / "redis.conf", conf), (home / "settings.toml", settings)):
        (report.created if write_private(path, text.encode(), overwrite=force) else report.kept).append(path)
    return report
