"""The worker's directories: a private base per worker node and one short-lived directory per job.

``<outputs>/<worker_id>/`` and everything the worker keeps under it are 0700 root. A job directory holds
``input/`` (root-owned, world-readable so the container's user can read it, reachable only through the 0700
parents — Docker mounts by path, the container never walks them), ``output/`` (a capped tmpfs owned by the
container's uid), and ``staged/`` (what was collected, 0700 root). The job directory goes away after
collection whatever happened; leftovers of a crashed worker are swept at the next start.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

from ..errors import ConfigError, SecurityError
from ..security.paths import validate_component
from ..security.private_files import make_private_dir
from ..settings import Settings
from .limits import Limits
from .owner import current_owner, owner_alive
from .tmpfs import PAGE, mount_capped_tmpfs, unmount

SANDBOX_UID = SANDBOX_GID = 65534
OWNER_FILE = "owner"
#: A job directory without an owner file is only judged abandoned after this long (it may be being created).
ORPHAN_GRACE_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class WorkerDirs:
    base: Path

    @property
    def jobs(self) -> Path:
        return self.base / "jobs"


@dataclasses.dataclass(frozen=True)
class JobDir:
    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def staged(self) -> Path:
        return self.root / "staged"


def worker_dirs(settings: Settings) -> WorkerDirs:
    """Create (or tighten) this worker's private base directory."""
    try:
        worker_id = validate_component(settings.worker_id, what="CLOUDAI_WORKER_ID", max_length=64)
    except SecurityError as e:
        raise ConfigError(str(e), setting="CLOUDAI_WORKER_ID") from None
    outputs = make_private_dir(settings.sandbox_outputs or settings.home / "outputs")
    dirs = WorkerDirs(make_private_dir(outputs / worker_id))
    make_private_dir(dirs.jobs)
    return dirs


def output_tmpfs_size(limits: Limits) -> int:
    """Room for the byte cap plus a page per file and some for directories: tmpfs counts whole pages."""
    return limits.output_bytes + (limits.output_files + 64) * PAGE


def open_job_dir(dirs: WorkerDirs, task_id: str, inputs: tuple[tuple[str, bytes], ...], limits: Limits) -> JobDir:
    """Lay out a fresh job directory; a leftover of an earlier attempt of the same task is removed first."""
    job = JobDir(dirs.jobs / validate_component(task_id, what="task id"))
    if job.root.exists() or job.root.is_symlink():
        remove_job_dir(job)
    os.mkdir(job.root, 0o700)
    try:
        _write(job.root / OWNER_FILE, current_owner().encode(), 0o600)
        os.mkdir(job.input, 0o755)
        os.chmod(job.input, 0o755)
        for name, data in inputs:
            _write(job.input / validate_component(name, what="input file name"), data, 0o644)
        os.mkdir(job.staged, 0o700)
        os.mkdir(job.output, 0o700)
        mount_capped_tmpfs(job.output, size_bytes=output_tmpfs_size(limits), inodes=2 * limits.output_files + 64,
                           uid=SANDBOX_UID, gid=SANDBOX_GID)
    except BaseException:
        remove_job_dir(job)
        raise
    return job


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
    finally:
        os.close(fd)


def remove_job_dir(job: JobDir) -> None:
    if job.root.is_symlink():
        job.root.unlink()
    elif job.root.exists():
        unmount(job.output)
        shutil.rmtree(job.root)


def sweep_job_dirs(dirs: WorkerDirs) -> list[str]:
    """Remove job directories whose owning worker process is gone; returns the task ids removed."""
    removed = []
    for entry in os.scandir(dirs.jobs):
        job = JobDir(Path(entry.path))
        try:
            alive = owner_alive((job.root / OWNER_FILE).read_text())
        except FileNotFoundError:
            alive = entry.stat(follow_symlinks=False).st_mtime > time.time() - ORPHAN_GRACE_SECONDS
        except OSError:
            continue
        if alive is False:
            remove_job_dir(job)
            removed.append(entry.name)
    return removed
