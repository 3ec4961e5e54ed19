"""What /proc says about a process: used to recognise a process again without trusting a bare pid."""
from __future__ import annotations

from pathlib import Path


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None if the process is gone or a zombie.

    A pid is reused after its process ends; (pid, start time) is not, so it names one process for good.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if fields[0] != "Z" else None
