"""Worker and job directories: private base, capped tmpfs output owned by the job's uid, nothing left over."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from cloudai_tasks.errors import ConfigError, SecurityError
from cloudai_tasks.sandbox.limits import Limits
from cloudai_tasks.procinfo import start_time
from cloudai_tasks.sandbox.owner import namespace_key
from cloudai_tasks.sandbox.workspace import (OWNER_FILE, SANDBOX_UID, open_job_dir, remove_job_dir,
                                             sweep_job_dirs, worker_dirs)
from cloudai_tasks.settings import Settings


@pytest.fixture
def dirs(tmp_path):
    settings = Settings.from_env({"CLOUDAI_HOME": str(tmp_path / "home"), "CLOUDAI_WORKER_ID": "node-1",
                                  "CLOUDAI_SANDBOX_OUTPUTS": str(tmp_path / "outputs")})
    return worker_dirs(settings)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_worker_base_is_private(dirs, tmp_path):
    assert dirs.base == tmp_path / "outputs" / "node-1"
    for path in (tmp_path / "outputs", dirs.base, dirs.jobs):
        assert mode(path) == 0o700 and os.lstat(path).st_uid == os.getuid()


def test_worker_id_must_be_a_safe_name(tmp_path):
    settings = Settings.from_env({"CLOUDAI_HOME": str(tmp_path), "CLOUDAI_WORKER_ID": "../escape"})
    with pytest.raises(ConfigError, match="CLOUDAI_WORKER_ID"):
        worker_dirs(settings)


def test_job_dir_layout_and_output_tmpfs(dirs):
    limits = Limits(output_bytes=64 * 1024, output_files=10)
    job = open_job_dir(dirs, "task-1", (("data.txt", b"hello"),), limits)
    try:
        assert mode(job.root) == 0o700
        assert mode(job.input) == 0o755 and mode(job.input / "data.txt") == 0o644
        assert (job.input / "data.txt").read_bytes() == b"hello"
        assert mode(job.staged) == 0o700
        assert os.path.ismount(job.output)
        st = os.stat(job.output)
        assert (st.st_uid, st.st_gid, mode(job.output)) == (SANDBOX_UID, SANDBOX_UID, 0o700)
        statvfs = os.statvfs(job.output)
        assert statvfs.f_files <= 2 * 10 + 64
        assert statvfs.f_blocks * statvfs.f_frsize <= 64 * 1024 + (10 + 64) * 4096 + 4096
        with pytest.raises(OSError):  # a file past the tmpfs size is refused by the kernel
            with open(job.output / "big", "wb") as f:
                f.write(b"x" * (2 * 1024 * 1024))
                f.flush()
                os.fsync(f.fileno())
    finally:
        remove_job_dir(job)
    assert not job.root.exists() and not os.path.ismount(job.output)


def test_task_ids_and_input_names_are_validated(dirs):
    with pytest.raises(SecurityError):
        open_job_dir(dirs, "../x", (), Limits())
    with pytest.raises(SecurityError):
        open_job_dir(dirs, "t2", (("../x", b""),), Limits())
    assert list(dirs.jobs.iterdir()) == [], "a refused job leaves no directory behind"


def test_sweep_removes_only_job_dirs_of_dead_owners(dirs):
    live = open_job_dir(dirs, "live", (), Limits())
    dead = open_job_dir(dirs, "dead", (), Limits())
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    (dead.root / OWNER_FILE).write_text(f"{namespace_key()}/{proc.pid}/{start_time(proc.pid)}")
    proc.wait()
    try:
        assert sweep_job_dirs(dirs) == ["dead"]
        assert live.root.exists() and not dead.root.exists()
    finally:
        remove_job_dir(live)
