"""A size- and inode-capped tmpfs for a job's ``/output``, mounted by the worker.

A plain bind-mounted directory would let a job fill the worker's disk within its wall time; a tmpfs with
``size`` and ``nr_inodes`` makes the kernel refuse writes past the job's caps (ENOSPC), and its pages are
charged to the container that writes them, so output also counts against the job's memory limit.
Mounting needs CAP_SYS_ADMIN; a worker that lacks it refuses jobs rather than run them uncapped.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

from ..errors import SandboxError

MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
MNT_DETACH = 0x2
PAGE = 4096

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def mount_capped_tmpfs(target: Path, *, size_bytes: int, inodes: int, uid: int, gid: int) -> None:
    """Mount a fresh tmpfs on ``target`` owned by ``uid:gid``, mode 0700, ``nosuid,nodev,noexec``."""
    options = f"size={max(size_bytes, PAGE)},nr_inodes={max(inodes, 1)},mode=0700,uid={uid},gid={gid}"
    rc = _libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     options.encode())
    if rc != 0:
        err = ctypes.get_errno()
        hint = "; the worker needs CAP_SYS_ADMIN (run it as root) to cap job output" if err == 1 else ""
        raise SandboxError(f"could not mount the job's output tmpfs on {target}: {os.strerror(err)}{hint}")


def unmount(target: Path) -> None:
    """Detach the tmpfs on ``target`` (lazily, so a straggling reader cannot keep it busy); no-op if none."""
    if not os.path.ismount(target):
        return
    if _libc.umount2(os.fsencode(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"could not unmount the job's output tmpfs on {target}: {os.strerror(err)}")
