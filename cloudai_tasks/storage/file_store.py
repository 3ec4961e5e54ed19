"""Encrypted result files on disk: ``<root>/<user>/<project>/<submitted_at>/<task_id>/<relative path>``.

Every component is validated (``security.paths``) and every directory below the root is walked with
``O_NOFOLLOW``, so no name or planted symlink can lead outside a user's tree. Directories are 0700 and files
0600 (created under a 077 umask as well). A file is encrypted while it is written to a temporary name in its
target directory, fsynced, renamed into place and the directory fsynced, so a crash never leaves a partial
file under a real name — and plaintext never touches this disk at all.

Storing is idempotent per (task, relative path): the storage key and the default file id are functions of
both, so storing the same path again (a redelivered job) atomically replaces the one file rather than adding
a second. Invalid names raise SecurityError; everything else that goes wrong raises StorageError.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from ..errors import StorageError
from ..security.paths import (
    open_dir_beneath,
    open_regular_beneath,
    open_regular_file,
    validate_component,
    validate_relpath,
)
from ..security.private_files import make_private_dir
from .file_format import KeySource, decrypt_file, decrypt_segments, encrypt_file
from .streaming_aead import SEGMENT_SIZE
from .user_keys import MAX_USER_LENGTH, Recipient

#: Namespace of the deterministic file ids (uuid5 of the storage key).
FILE_ID_NAMESPACE = uuid.UUID("6f0c2f55-5f7e-4a8e-9d2a-3c1b7c6e0a41")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")
_TMP_PREFIX = ".tmp-"  # validated names never start with '.', so a temporary name cannot collide with one


@dataclass(frozen=True)
class ResultLocation:
    """Where one task's results live; ``submitted_at`` is a timestamp component such as 20250101T120000Z."""

    user: str
    project: str
    submitted_at: str
    task_id: str

    def __post_init__(self) -> None:
        validate_component(self.user, what="user name", max_length=MAX_USER_LENGTH)
        validate_component(self.project, what="project name", max_length=64)
        validate_component(self.submitted_at, what="submission time", max_length=32)
        validate_component(self.task_id, what="task id", max_length=128)

    @classmethod
    def of(cls, user: str, project: str, submitted_at: datetime | str, task_id: str) -> "ResultLocation":
        """Build a location, formatting an aware ``datetime`` as UTC ``YYYYmmddTHHMMSSZ``."""
        if isinstance(submitted_at, datetime):
            if submitted_at.tzinfo is None:
                raise StorageError("submitted_at must be timezone-aware (use datetime.now(timezone.utc))")
            submitted_at = submitted_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return cls(user, project, submitted_at, task_id)

    def parts(self) -> tuple[str, ...]:
        return (self.user, self.project, self.submitted_at, self.task_id)


@dataclass(frozen=True)
class StoredFile:
    """What the index records about one stored file. ``key`` is the path relative to the store root."""

    relpath: str
    plaintext_size: int
    sha256: str
    ciphertext_size: int
    key_version: int
    file_id: uuid.UUID
    key: str
    path: Path


def storage_key(location: ResultLocation, relpath: str) -> str:
    return "/".join((*location.parts(), *validate_relpath(relpath)))


def file_id_for(location: ResultLocation, relpath: str) -> uuid.UUID:
    """The file id a (task, path) gets by default: stable, so a redelivered job stores under the same id."""
    return uuid.uuid5(FILE_ID_NAMESPACE, storage_key(location, relpath))


@contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


class FileStore:
    """The per-user encrypted file tree under ``root``. Workers store with public keys; readers need private keys."""

    def __init__(self, root: Path, *, segment_size: int = SEGMENT_SIZE) -> None:
        self.root = make_private_dir(Path(root))
        self.segment_size = segment_size

    def store(
        self,
        src: BinaryIO | Path,
        location: ResultLocation,
        relpath: str,
        recipient: Recipient,
        *,
        file_id: uuid.UUID | None = None,
        publish: Callable[[StoredFile], bool] | None = None,
        sha256: str | None = None,
    ) -> StoredFile:
        """Encrypt ``src`` (a file object, or the path of a regular file) for ``recipient`` into its place.

        ``sha256`` is the plaintext digest when the caller already has it (the sandbox computes it while it
        collects a job's output); then the file is not hashed a second time, which is most of a store's CPU.

        ``publish``, if given, is called with the result once the ciphertext is durable under its temporary
        name and before it is renamed into place: return True to rename (replacing any earlier file of this
        task and path), False to discard the new ciphertext and keep what is there. An exception from it
        discards the new ciphertext too. This is how the index decides, in its own transaction, which copy wins.
        The result always describes the ciphertext just written, whether or not it was kept.
        """
        if recipient.user != location.user:
            raise StorageError(f"refusing to store a file of {location.user!r} encrypted to {recipient.user!r}'s key")
        key = storage_key(location, relpath)
        file_id = file_id or file_id_for(location, relpath)
        if isinstance(src, (str, Path)):
            with _open_source(Path(src)) as fh:
                return self._write(fh, key, relpath, recipient, file_id, publish, sha256)
        return self._write(src, key, relpath, recipient, file_id, publish, sha256)

    def _write(self, src: BinaryIO, key: str, relpath: str, recipient: Recipient, file_id: uuid.UUID,
               publish: Callable[[StoredFile], bool] | None, known_sha256: str | None) -> StoredFile:
        if known_sha256 is not None and not _SHA256_HEX.match(known_sha256):
            raise StorageError(f"sha256 for {relpath!r} must be 64 lower-case hex digits")
        parts = key.split("/")
        digest = None if known_sha256 else hashlib.sha256()
        tmp = _TMP_PREFIX + secrets.token_hex(8)
        try:
            with _private_umask(), open_dir_beneath(self.root, parts[:-1], create=True, private=True) as dir_fd:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=dir_fd)
                renamed = False
                try:
                    try:
                        sizes = encrypt_file(src, _WritebackFile(fd), recipient, file_id, observer=digest,
                                             segment_size=self.segment_size)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    stored = StoredFile(relpath, sizes.plaintext_size, known_sha256 or digest.hexdigest(),
                                        sizes.ciphertext_size,
                                        recipient.version, file_id, key, self.root.joinpath(*parts))
                    if publish is None or publish(stored):
                        os.replace(tmp, parts[-1], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                        renamed = True
                        os.fsync(dir_fd)
                finally:
                    if not renamed:
                        _unlink_quietly(tmp, dir_fd)
        except OSError as e:
            raise StorageError(f"could not store {key}: {e.strerror or e}") from e
        return stored

    def open_encrypted(self, key: str) -> BinaryIO:
        """The stored ciphertext, opened without following links; for copying or serving encrypted bytes."""
        parts = validate_relpath(key, what="storage key")
        try:
            with open_dir_beneath(self.root, parts[:-1], private=True) as dir_fd:
                fd = open_regular_beneath(dir_fd, parts[-1])
        except FileNotFoundError:
            raise StorageError(f"no stored file {key!r}; it was never stored or has been removed") from None
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)  # larger read-ahead: files are read start to end
        return os.fdopen(fd, "rb")

    def iter_plaintext(self, key: str, keys: KeySource, *, file_id: uuid.UUID) -> Iterator[bytes]:
        """Authenticated plaintext segments of a stored file, for streaming to its owner.

        A missing file, a foreign header or a wrong key raise StorageError here, before any plaintext. The
        iterator may still raise part-way (altered or truncated body): then abort the response so the client
        sees a broken transfer (see ``streaming_aead``). Exhaust or ``close()`` the iterator to close the file.
        """
        user = validate_relpath(key, what="storage key")[0]
        fh = self.open_encrypted(key)
        try:
            segments = decrypt_segments(fh, keys, user=user, file_id=file_id)
        except BaseException:
            fh.close()
            raise
        return _closing(segments, fh)

    def decrypt_to_path(
        self, key: str, dst: Path, keys: KeySource, *, file_id: uuid.UUID, overwrite: bool = False
    ) -> int:
        """Decrypt into a 0600 temporary file next to ``dst`` and rename it to ``dst`` only once all of it
        authenticated; ``dst`` never holds partial or unauthenticated plaintext. Returns the plaintext size."""
        dst = Path(dst)
        user = validate_relpath(key, what="storage key")[0]
        tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(8)}.part")
        with self.open_encrypted(key) as src, _private_umask():
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                try:
                    size = decrypt_file(src, _WritebackFile(fd), keys, user=user, file_id=file_id)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if overwrite:
                    os.replace(tmp, dst)
                else:
                    os.link(tmp, dst)  # fails if dst exists, unlike rename
                    tmp.unlink()
            except FileExistsError:
                tmp.unlink(missing_ok=True)
                raise StorageError(f"{dst} already exists; remove it or pass overwrite=True") from None
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return size


@contextmanager
def _open_source(path: Path) -> Iterator[BinaryIO]:
    try:
        fd = open_regular_file(path)
    except OSError as e:
        raise StorageError(f"cannot read result file {path}: {e.strerror}") from e
    with os.fdopen(fd, "rb") as fh:
        yield fh


class _WritebackFile:
    """Unbuffered writes that start writeback early and drop pages already on disk.

    ``POSIX_FADV_DONTNEED`` starts asynchronous writeback of the dirty window and evicts the clean pages behind
    it, so the final fsync has little left to wait for and a 1 GiB store does not fill the page cache.
    """

    WINDOW = 8 << 20

    def __init__(self, fd: int) -> None:
        self.fd, self.pos, self.flushed = fd, 0, 0

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.pos += len(data)
        if self.pos - self.flushed >= self.WINDOW:
            start = max(0, self.flushed - 4 * self.WINDOW)
            os.posix_fadvise(self.fd, start, self.pos - start, os.POSIX_FADV_DONTNEED)
            self.flushed = self.pos
        return len(data)


def _closing(segments: Iterator[bytes], fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        yield from segments


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
