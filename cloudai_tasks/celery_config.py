"""Translate Settings into Celery's configuration keys; the one place that knows both vocabularies."""
from __future__ import annotations

from typing import Any

from .security.broker_acl import CONTROL_QUEUE, ROLE_USERS, unacked_keys, worker_principal
from .security.broker_credentials import credentials_for
from .security.transport import IN_PROCESS_SCHEMES, check_url, ssl_options
from .settings import Settings

SWEEP_TASK = "cloudai.control.sweep"


def celery_settings(settings: Settings) -> dict[str, Any]:
    broker_scheme = check_url(settings.broker_url, "CLOUDAI_BROKER_URL")
    backend_scheme = check_url(settings.result_backend, "CLOUDAI_RESULT_BACKEND")
    conf: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": settings.prefetch_multiplier,
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout,
                                     **unacked_keys(_principal(settings))},
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout},
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "result_expires": 24 * 3600,
        "task_track_started": False,
        # No expiry on pidbox and event queues: kombu would otherwise run binding-expiry scripts on keys every
        # principal shares, which least-privilege ACL users cannot (and should not) touch.
        "control_queue_expires": None,
        "event_queue_expires": None,
        "task_routes": {"cloudai.control.*": {"queue": CONTROL_QUEUE}},
        "beat_schedule": {SWEEP_TASK: {"task": SWEEP_TASK, "schedule": float(settings.sweep_interval),
                                       "options": {"queue": CONTROL_QUEUE, "expires": settings.sweep_interval}}},
    }
    if settings.worker_concurrency:
        conf["worker_concurrency"] = settings.worker_concurrency
    needs_tls = {broker_scheme, backend_scheme} - IN_PROCESS_SCHEMES
    if needs_tls:
        opts = ssl_options(settings.tls_ca, settings.tls_cert, settings.tls_key)
        if broker_scheme not in IN_PROCESS_SCHEMES:
            conf["broker_use_ssl"] = dict(opts)
        if backend_scheme not in IN_PROCESS_SCHEMES:
            conf["redis_backend_use_ssl"] = dict(opts)
        creds = credentials_for(settings)
        if creds is not None:
            conf.update(broker_user=creds.username, broker_password=creds.password,
                        redis_username=creds.username, redis_password=creds.password)
    return conf


def _principal(settings: Settings) -> str:
    """Whose unacked bookkeeping this process keeps: a worker's own (all its keys share it), or its role's."""
    if settings.role == "worker":
        return worker_principal(settings.worker_id)
    return ROLE_USERS[settings.role]
