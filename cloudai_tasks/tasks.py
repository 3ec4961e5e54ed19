"""The Celery tasks. Thin: validate, then hand over to sandbox, storage and security."""
from __future__ import annotations

from .celery import app


@app.task(name="cloudai.ping", acks_late=False)
def ping(value: int = 0) -> int:
    """A no-op round trip: used by health checks, the quickstart and the throughput benchmark."""
    return value
