"""Create directories and files that only their owner can read, without a window where they are wider."""
from __future__ import annotations

import os
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
