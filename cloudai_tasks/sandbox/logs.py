"""stdout and stderr of a job, streamed from the container into capped files, never held whole in memory.

They are job output like anything in ``/output``: they go to files beside it, never into the manifest, the
result backend or the worker's log. Past the cap the rest is discarded and ``on_cap`` is called once (the
runner stops the job), so a job cannot keep the worker busy by printing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from pathlib import Path
from typing import Callable, Iterable


@dataclasses.dataclass(frozen=True)
class LogFile:
    name: str
    path: Path
    size: int
    sha256: str
    truncated: bool


class _CappedFile:
    def __init__(self, path: Path, cap: int) -> None:
        self.path, self.cap = path, cap
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self.size, self.truncated = 0, False
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> bool:
        """Keep what fits under the cap; True once something had to be dropped."""
        room = max(self.cap - self.size, 0)
        kept = memoryview(data)[:room]
        if kept:
            self.digest.update(kept)
            self.size += len(kept)
            while kept:
                kept = kept[os.write(self.fd, kept):]
        if len(data) > room:
            self.truncated = True
        return self.truncated

    def close(self, name: str) -> LogFile:
        os.close(self.fd)
        return LogFile(name, self.path, self.size, self.digest.hexdigest(), self.truncated)


class LogCapture:
    """Drains a demultiplexed attach stream of ``(stdout, stderr)`` chunks on a thread of its own."""

    def __init__(self, directory: Path, cap: int, on_cap: Callable[[], None]) -> None:
        self._files = {"stdout": _CappedFile(directory / "stdout", cap),
                       "stderr": _CappedFile(directory / "stderr", cap)}
        self._on_cap = on_cap
        self._capped = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self, stream: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        self._thread = threading.Thread(target=self._drain, args=(stream,), name="cloudai-job-logs", daemon=True)
        self._thread.start()

    def _drain(self, stream: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        try:
            for out, err in stream:
                for name, chunk in (("stdout", out), ("stderr", err)):
                    if chunk and self._files[name].write(chunk) and not self._capped:
                        self._capped = True
                        self._on_cap()
        except Exception as e:  # noqa: BLE001 - a broken stream after the kill is expected; kept for the caller
            self.error = e

    def join(self, timeout: float) -> bool:
        """Wait for the stream to end; False if it is still open after ``timeout``."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def close(self) -> dict[str, LogFile]:
        return {name: f.close(name) for name, f in self._files.items()}
