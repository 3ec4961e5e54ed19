"""TLS for every broker and result-backend connection, refused at set-up when it would not verify.

kombu quietly connects with ``ssl_cert_reqs=CERT_NONE`` to a ``rediss://`` URL that has no SSL options, and
a plain ``redis://`` URL sends everything in clear text. Both are refused here, before any connection is made.
"""
from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigError

#: Schemes that never touch a network; allowed so unit tests can run without services.
IN_PROCESS_SCHEMES = frozenset({"memory", "cache+memory"})


def check_url(url: str, setting: str) -> str:
    """Return the scheme of ``url`` if it is acceptable; raise ConfigError with the fix otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in IN_PROCESS_SCHEMES:
        return scheme
    if scheme != "rediss":
        raise ConfigError(
            f"{setting} uses {scheme or 'no'} scheme; CloudAI Tasks talks to Redis over TLS only: "
            f"use rediss://HOST:PORT/DB (the TLS port from `cloudai init`)",
            setting=setting,
        )
    ssl_params = [k for k, _ in parse_qsl(parts.query) if k.lower().startswith("ssl")]
    if ssl_params:
        raise ConfigError(
            f"{setting} sets {', '.join(sorted(ssl_params))} in the URL; TLS options come only from "
            f"CLOUDAI_TLS_CA / CLOUDAI_TLS_CERT / CLOUDAI_TLS_KEY so that verification cannot be switched off",
            setting=setting,
        )
    if not parts.hostname:
        raise ConfigError(f"{setting} has no host name; use rediss://HOST:PORT/DB", setting=setting)
    if parts.username or parts.password:
        raise ConfigError(
            f"{setting} carries a user name or password; broker credentials come only from the config home or "
            f"CLOUDAI_WORKER_KEY (URLs are printed in banners and logs), so remove them from the URL",
            setting=setting,
        )
    return scheme


def ssl_options(ca: Path | None, cert: Path | None, key: Path | None) -> dict[str, Any]:
    """redis-py connection options that verify the server (CA + host name) and present a client certificate."""
    missing = [(var, p) for var, p in (("CLOUDAI_TLS_CA", ca), ("CLOUDAI_TLS_CERT", cert), ("CLOUDAI_TLS_KEY", key))
               if p is None or not Path(p).is_file()]
    if missing:
        described = ", ".join(f"{var} ({p})" for var, p in missing)
        raise ConfigError(
            f"TLS file(s) not found: {described}; run `cloudai init` or point the variable at the file",
            setting=missing[0][0],
        )
    return {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": str(ca),
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "ssl_check_hostname": True,
        "ssl_min_version": ssl.TLSVersion.TLSv1_2,
    }


def check_celery_conf(conf: Mapping[str, Any]) -> None:
    """Fail closed if the final Celery configuration would connect without verifying the server.

    Runs on the merged configuration, so an operator's edit of celeryconfig.py is checked too.
    """
    for url_key, ssl_key in (("broker_url", "broker_use_ssl"), ("result_backend", "redis_backend_use_ssl")):
        url = conf.get(url_key)
        if not url:
            raise ConfigError(f"Celery setting {url_key} is empty; set CLOUDAI_{url_key.upper()}", setting=url_key)
        setting = "CLOUDAI_BROKER_URL" if url_key == "broker_url" else "CLOUDAI_RESULT_BACKEND"
        if check_url(url, setting) in IN_PROCESS_SCHEMES:
            continue
        opts = conf.get(ssl_key)
        if not isinstance(opts, Mapping) or opts.get("ssl_cert_reqs") != ssl.CERT_REQUIRED \
                or not opts.get("ssl_ca_certs") or opts.get("ssl_check_hostname") is not True:
            raise ConfigError(
                f"Celery setting {ssl_key} does not require a verified server certificate with host name "
                f"checking; remove the override from celeryconfig.py",
                setting=ssl_key,
            )


def redis_client(url: str, ca: Path | None, cert: Path | None, key: Path | None, **kwargs: Any):
    """A redis-py client for a ``rediss://`` URL with full verification (used by CLI health checks and tests)."""
    import redis

    check_url(url, "CLOUDAI_BROKER_URL")
    return redis.Redis.from_url(url, **ssl_options(ca, cert, key), **kwargs)
