"""The result of a job: what ran, how it ended, and which files it produced — never the job's output itself."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any


@dataclasses.dataclass(frozen=True)
class StagedFile:
    """A collected file waiting for storage: ``name`` is ``output/<path>``, ``stdout`` or ``stderr``."""

    name: str
    local: Any
    size: int
    sha256: str


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


@dataclasses.dataclass
class Manifest:
    task_id: str
    worker_id: str
    user_id: str
    project: str
    image: str
    image_id: str
    exit_code: int | None
    kill_reason: str | None
    started_at: float
    duration_seconds: float
    limits: dict[str, Any]
    files: list[dict[str, Any]]
    logs: dict[str, dict[str, Any]]
    skipped: list[dict[str, str]]
    skipped_count: int
    truncated: str | None
    stored: dict[str, Any] | None = None

    @property
    def killed(self) -> bool:
        return self.kill_reason is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form returned by ``run_job`` (and stored in the result backend)."""
        data = dataclasses.asdict(self)
        data["killed"] = self.killed
        data["started_at"] = iso(self.started_at)
        data["finished_at"] = iso(self.started_at + self.duration_seconds)
        data["duration_seconds"] = round(self.duration_seconds, 3)
        return data
