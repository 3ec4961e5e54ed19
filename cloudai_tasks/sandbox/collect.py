"""Collecting what a job left in ``/output``, treating every entry as hostile.

Only regular files with a single link and a valid name are taken; symbolic links, hard links, devices,
FIFOs and sockets are skipped and reported, never followed or opened for reading. Directories are walked
through file descriptors opened with O_NOFOLLOW, paths are re-validated as the storage layer will, and
collection stops at the file and byte caps without reading past them. Each file is hashed as it is copied,
so the hash describes exactly the bytes handed on.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import stat
from pathlib import Path

from ..errors import SecurityError
from ..security.paths import MAX_RELPATH_DEPTH, check_regular_file, validate_component, validate_relpath

CHUNK = 1024 * 1024
MAX_REPORTED_SKIPS = 100
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = ((stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


@dataclasses.dataclass(frozen=True)
class CollectedFile:
    path: str
    local: Path
    size: int
    sha256: str


@dataclasses.dataclass
class Collection:
    files: list[CollectedFile] = dataclasses.field(default_factory=list)
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)
    skipped_count: int = 0
    truncated: str | None = None
    total_bytes: int = 0

    def skip(self, path: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_REPORTED_SKIPS:
            self.skipped.append({"path": ascii(path)[1:-1][:200], "reason": reason})


class _Stop(Exception):
    """A cap was reached: nothing further is read."""


class _Collector:
    def __init__(self, dest: Path, max_bytes: int, max_files: int) -> None:
        self.dest, self.max_bytes, self.max_files = dest, max_bytes, max_files
        self.max_entries = 4 * max_files + 1000
        self.entries = 0
        self.result = Collection()

    def walk(self, dir_fd: int, parts: tuple[str, ...]) -> None:
        for name in sorted(os.listdir(dir_fd)):
            self.entries += 1
            if self.entries > self.max_entries:
                self._stop(f"more than {self.max_entries} entries in /output")
            rel = "/".join((*parts, name))
            try:
                validate_component(name)
            except SecurityError:
                self.result.skip(rel, "name not allowed")
                continue
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                self._descend(dir_fd, name, (*parts, name))
            elif stat.S_ISREG(st.st_mode):
                self._file(dir_fd, name, rel, st)
            else:
                self.result.skip(rel, next((kind for test, kind in _KINDS if test(st.st_mode)), "special file"))

    def _stop(self, reason: str) -> None:
        self.result.truncated = reason
        raise _Stop

    def _descend(self, dir_fd: int, name: str, parts: tuple[str, ...]) -> None:
        if len(parts) >= MAX_RELPATH_DEPTH:
            self.result.skip("/".join(parts), f"nested more than {MAX_RELPATH_DEPTH} levels deep")
            return
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                self.result.skip("/".join(parts), "changed into a non-directory while collecting")
                return
            raise
        try:
            self.walk(child, parts)
        finally:
            os.close(child)

    def _file(self, dir_fd: int, name: str, rel: str, st: os.stat_result) -> None:
        if st.st_nlink != 1:
            self.result.skip(rel, "hard link")
            return
        try:
            parts = validate_relpath(rel)
        except SecurityError:
            self.result.skip(rel, "path not allowed")
            return
        if len(self.result.files) >= self.max_files:
            self._stop(f"output_files cap of {self.max_files} reached")
        if self.result.total_bytes + st.st_size > self.max_bytes:
            self._stop(f"output_bytes cap of {self.max_bytes} reached at {ascii(rel)[1:-1][:200]}")
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            self.result.skip(rel, "could not be opened")
            return
        try:
            now = os.fstat(fd)
            try:
                check_regular_file(now, name)
            except SecurityError:
                self.result.skip(rel, "changed while collecting")
                return
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                self.result.skip(rel, "changed while collecting")
                return
            self._copy(fd, rel, parts)
        finally:
            os.close(fd)

    def _copy(self, fd: int, rel: str, parts: tuple[str, ...]) -> None:
        target = self.dest.joinpath(*parts)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        budget = self.max_bytes - self.result.total_bytes
        digest, size = hashlib.sha256(), 0
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        complete = False
        try:
            while chunk := os.read(fd, min(CHUNK, budget - size + 1)):
                size += len(chunk)
                if size > budget:
                    break
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
            else:
                complete = True
        finally:
            os.close(out)
            if not complete:
                target.unlink()
        if not complete:
            self._stop(f"output_bytes cap of {self.max_bytes} reached at {ascii(rel)[1:-1][:200]}")
        self.result.total_bytes += size
        self.result.files.append(CollectedFile(path=rel, local=target, size=size, sha256=digest.hexdigest()))


def collect_outputs(source: Path, dest: Path, *, max_bytes: int, max_files: int) -> Collection:
    """Copy the acceptable files under ``source`` into ``dest`` (a fresh private directory) and report."""
    collector = _Collector(dest, max_bytes, max_files)
    fd = os.open(source, _DIR_FLAGS)
    try:
        collector.walk(fd, ())
    except _Stop:
        pass
    finally:
        os.close(fd)
    return collector.result
