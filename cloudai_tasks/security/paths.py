"""Names that may become path components, and opening paths beneath a directory without escaping it.

Everything that turns outside input (user names, task ids, file names a job wrote) into a filesystem
path goes through here. The pattern is deliberately narrow — ASCII letters, digits and ``_ . + = @ , -``,
not starting with ``.`` or ``-`` — so ``.``/``..``, separators, NUL, control characters, Unicode
look-alikes and option-like names can never reach ``open``. Walking uses directory file descriptors with
``O_NOFOLLOW``, so a symbolic link planted anywhere along the way is refused rather than followed.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import SecurityError

#: One path component: what every validated name must match (length is checked separately).
COMPONENT_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@,-]*")
MAX_COMPONENT_LENGTH = 128
MAX_RELPATH_LENGTH = 1024
MAX_RELPATH_DEPTH = 16

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def validate_component(name: str, *, what: str = "path component", max_length: int = MAX_COMPONENT_LENGTH) -> str:
    """Return ``name`` if it is safe as a single path component; raise SecurityError naming ``what`` otherwise."""
    if not isinstance(name, str):
        raise SecurityError(f"{what} must be a string, not {type(name).__name__}")
    if not name or len(name) > max_length:
        raise SecurityError(f"{what} must be 1 to {max_length} characters long (got {len(name)})")
    if not COMPONENT_PATTERN.fullmatch(name):
        raise SecurityError(
            f"{what} {name!r} is not allowed: use ASCII letters, digits and _ . + = @ , - only, "
            f"not starting with '.' or '-'"
        )
    return name


def validate_relpath(path: str, *, what: str = "file path") -> tuple[str, ...]:
    """Split a relative POSIX path into validated components; absolute paths, ``..`` and ``//`` are refused."""
    if not isinstance(path, str):
        raise SecurityError(f"{what} must be a string, not {type(path).__name__}")
    if not path or len(path) > MAX_RELPATH_LENGTH:
        raise SecurityError(f"{what} must be 1 to {MAX_RELPATH_LENGTH} characters long (got {len(path)})")
    if path.startswith("/"):
        raise SecurityError(f"{what} {path!r} is absolute; give a path relative to the output directory")
    parts = tuple(path.split("/"))
    if len(parts) > MAX_RELPATH_DEPTH:
        raise SecurityError(f"{what} {path!r} is nested more than {MAX_RELPATH_DEPTH} directories deep")
    for part in parts:
        validate_component(part, what=f"component {part!r} of {what} {path!r}")
    return parts


def safe_join(root: Path, path: str, *, what: str = "file path") -> Path:
    """``root / path`` after validating every component of ``path`` (a lexical check; see ``open_dir_beneath``)."""
    return Path(root).joinpath(*validate_relpath(path, what=what))


@contextmanager
def open_dir_beneath(
    root: Path, parts: Sequence[str], *, create: bool = False, private: bool = False
) -> Iterator[int]:
    """Yield an O_DIRECTORY fd for ``root/parts...``, refusing a symbolic link at every step below ``root``.

    With ``create`` missing directories are made 0700 and their parent fsynced, so a new directory entry
    survives a crash together with the file later renamed into it. With ``private`` every directory below
    ``root`` must be accessible to its owner only. ``root`` itself must already exist.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            validate_component(part)
            if create:
                try:
                    os.mkdir(part, 0o700, dir_fd=fd)
                    os.fsync(fd)
                except FileExistsError:
                    pass
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise SecurityError(f"{part!r} is a symbolic link or not a directory; refusing to follow it") from e
                raise
            os.close(fd)
            fd = child
            if private and os.fstat(fd).st_mode & 0o077:
                raise SecurityError(f"directory {part!r} under {root} is open to other users; run `chmod 700` on it")
        yield fd
    finally:
        os.close(fd)


def open_regular_beneath(dir_fd: int, name: str) -> int:
    """Open ``name`` in ``dir_fd`` for reading only if it is a regular file with a single link."""
    return _open_regular(validate_component(name), dir_fd)


def open_regular_file(path: Path) -> int:
    """Open ``path`` for reading only if its last component is a regular, singly linked file (not a symlink)."""
    return _open_regular(str(path), None)


def _open_regular(name: str, dir_fd: int | None) -> int:
    """O_NONBLOCK keeps a FIFO planted under the name from blocking the open; cleared once the file is known."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SecurityError(f"{name!r} is a symbolic link; refusing to follow it") from e
        raise
    try:
        check_regular_file(os.fstat(fd), name)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_regular_file(st: os.stat_result, name: str) -> None:
    """Refuse anything but a plain file with one link: devices, FIFOs and hard links are path escapes too."""
    if not stat.S_ISREG(st.st_mode):
        raise SecurityError(f"{name!r} is not a regular file; only regular files are accepted")
    if st.st_nlink != 1:
        raise SecurityError(f"{name!r} has {st.st_nlink} hard links; only files with a single link are accepted")
