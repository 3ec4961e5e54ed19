"""Which process owns a job container or job directory, recorded so a later worker can tell a leftover.

The token is ``<boot id>.<pid namespace>/<pid>/<start time>``: the start time makes a recycled pid harmless,
and the namespace part means a worker only judges owners whose pids it can actually see. Owners elsewhere
(another host or container sharing the Docker daemon) are "unknown", and only their deadline can reap them.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..procinfo import start_time


@lru_cache(maxsize=1)
def namespace_key() -> str:
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return f"{boot_id}.{os.stat('/proc/self/ns/pid').st_ino}"


def current_owner() -> str:
    pid = os.getpid()
    return f"{namespace_key()}/{pid}/{start_time(pid)}"


def owner_alive(token: str) -> bool | None:
    """True/False for an owner in our pid namespace; None when it cannot be judged from here."""
    try:
        key, pid, started = token.split("/")
        pid_number = int(pid)
    except ValueError:
        return None
    if key != namespace_key():
        return None
    return start_time(pid_number) == started
