"""Every published job carries its submission time in a message header.

The time names the job's result directory (``<user>/<project>/<submitted_at>/<task_id>``), so it must come
from the message, not the worker's clock: a redelivered job then lands in the same place.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from celery.signals import before_task_publish

HEADER = "cloudai_submitted_at"


@before_task_publish.connect
def stamp_submission_time(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers.setdefault(HEADER, dt.datetime.now(dt.timezone.utc).isoformat())


def submitted_at(request: Any, fallback: dt.datetime) -> dt.datetime:
    """The stamped time of ``request`` (a task's ``self.request``), or ``fallback`` if absent or malformed."""
    raw = getattr(request, HEADER, None)
    try:
        value = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        return fallback
    return value.astimezone(dt.timezone.utc)
