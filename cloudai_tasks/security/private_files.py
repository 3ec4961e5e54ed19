"""Create directories and files that only their owner can read, without a window where they are wider."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ConfigError


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as 0700; tighten an existing one we own; refuse a symlink."""
    path = Path(path)
    if path.is_symlink():
        raise ConfigError(f"{path} is a symbolic link; point CLOUDAI_HOME at a real directory")
    old = os.umask(0o077)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    finally:
        os.umask(old)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes, *, overwrite: bool = False) -> bool:
    """Write ``data`` to ``path`` as 0600 via a temporary name and rename. Returns False if kept as it was."""
    path = Path(path)
    if path.exists() and not overwrite:
        return False
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def read_private(path: Path, *, setting: str | None = None) -> bytes:
    """Read a secret file, refusing a symlink or a file other users could read (fail closed, name the fix).

    The mode is checked on the opened descriptor, so the file cannot be swapped between check and read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        where = f"{setting}={path}" if setting else str(path)
        raise ConfigError(f"cannot read {where} ({e.strerror}); it must be a regular 0600 file",
                          setting=setting) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
            raise ConfigError(f"{path} must be a regular file readable only by its owner; run `chmod 600 {path}`",
                              setting=setting)
        return fh.read()
