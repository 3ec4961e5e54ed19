"""Control-plane tasks: consumed from the control queue only by the control process, the admin ACL user.

Celery beat sends ``cloudai.control.sweep`` every CLOUDAI_SWEEP_INTERVAL seconds. It needs rights no job-running
worker may hold (deleting ACL users, moving any queue's messages), which is why it has a queue of its own that
no worker key can name and the producer cannot publish to.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .celery import app
from .celery_config import SWEEP_TASK
from .errors import ConfigError
from .security import audit, worker_registry
from .security.broker_acl import unacked_keys, worker_principal
from .security.broker_users import BrokerAdmin
from .storage.db import index_sessions
from .storage.models import Worker


@app.task(name=SWEEP_TASK, ignore_result=True, acks_late=False)
def sweep() -> dict[str, Any]:
    """Expire keys, end rotation grace periods (their ACL users go, with their connections), and hand the
    jobs that cut-off workers left unacknowledged back to their queues once the visibility timeout passed."""
    settings = app.settings
    if settings.role != "admin":
        raise ConfigError("control tasks run only in the control process (CLOUDAI_ROLE=admin)")
    sessions = _sessions(settings.database_url)
    broker = BrokerAdmin.connect(settings, socket_timeout=10)
    try:
        with sessions.begin() as session:
            report = worker_registry.sweep(session, broker)
            worker_ids = list(session.scalars(select(Worker.id).order_by(Worker.id)))
    finally:
        broker.close()
    restored = restore_unacked(worker_ids)
    if restored:
        with sessions.begin() as session:
            for worker_id, count in restored.items():
                audit.record(session, actor="control", action="worker.jobs_restored", target=worker_id,
                             details={"messages": count})
    return {"expired": report.expired, "grace_ended": report.grace_ended, "restored": restored}


@functools.lru_cache(maxsize=2)
def _sessions(database_url: str) -> sessionmaker[Session]:
    """One engine (and connection pool) for the control process, not a new one on every sweep."""
    return index_sessions(database_url)


def restore_unacked(worker_ids: Iterable[str]) -> dict[str, int]:
    """Requeue each worker's deliveries older than the visibility timeout (kombu's own restore, run as admin).

    Each worker keeps its unacknowledged deliveries under keys of its own, which no other worker may touch; a
    live worker restores its own, and this returns those of workers that were cut off or died.
    """
    restored: dict[str, int] = {}
    with app.connection_for_write() as probe:  # one connection to find the few workers with anything in flight
        client = probe.default_channel.client
        pending = [w for w in worker_ids if client.zcard(unacked_keys(worker_principal(w))["unacked_index_key"])]
    for worker_id in pending:
        options = {**app.conf.broker_transport_options, **unacked_keys(worker_principal(worker_id))}
        with app.connection_for_write(transport_options=options) as conn:
            channel = conn.default_channel
            before = channel.client.zcard(options["unacked_index_key"])
            if before:
                channel.qos.restore_visible(num=None, interval=1)
                count = before - channel.client.zcard(options["unacked_index_key"])
                if count:
                    restored[worker_id] = count
    return restored
