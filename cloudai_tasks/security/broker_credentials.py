"""Which Redis ACL user a process logs in as, and with what password: its role's secret, or a worker's key.

Credentials travel in Celery's ``broker_password`` / ``redis_password`` settings, never in a URL: URLs are printed
in banners, logs and ``inspect conf`` replies, while Celery masks settings whose name says PASS. They always go
together with the TLS options; nothing here can replace or weaken them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError, WorkerKeyRefused
from ..settings import Settings
from .broker_acl import ROLE_USERS
from .worker_keys import read_claims


@dataclass(frozen=True)
class BrokerCredentials:
    username: str
    password: str = field(repr=False)


def credentials_for(settings: Settings) -> BrokerCredentials | None:
    """The ACL login of this process; None for a worker whose key is missing or malformed.

    Such a worker gets no credentials at all (never another role's): its bootstep refuses it before any
    connection and audits why, and the broker, whose ``default`` user is off, would refuse it anyway.
    """
    if settings.role == "worker":
        if not settings.worker_key:
            return None
        try:
            claims = read_claims(settings.worker_key)
        except WorkerKeyRefused:
            return None
        return BrokerCredentials(claims.username, settings.worker_key)
    path = settings.broker_secret_file
    try:
        secret = path.read_text().strip() if path is not None else ""
    except OSError as e:
        raise ConfigError(f"broker password file {path} cannot be read ({e.strerror}); run `cloudai init` or set "
                          f"CLOUDAI_BROKER_SECRET_FILE", setting="CLOUDAI_BROKER_SECRET_FILE") from None
    if not secret:
        raise ConfigError(f"broker password file {path} is empty; run `cloudai init`",
                          setting="CLOUDAI_BROKER_SECRET_FILE")
    return BrokerCredentials(ROLE_USERS[settings.role], secret)
