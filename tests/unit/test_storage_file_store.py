"""The per-user file tree: private permissions, no plaintext on disk, no path escapes, one file per (task, path)."""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cloudai_tasks.errors import SecurityError, StorageError
from cloudai_tasks.storage import file_store
from cloudai_tasks.storage.file_store import FileStore, ResultLocation, file_id_for
from cloudai_tasks.storage.user_keys import generate_user_key

MARKER = b"PLAINTEXT-MARKER-4f1c"


@pytest.fixture(scope="module")
def alice():
    return generate_user_key("alice", 1)


@pytest.fixture
def store(tmp_path):
    return FileStore(tmp_path / "results", segment_size=256)


LOC = ResultLocation("alice", "proj", "20250102T030405Z", "task-1")


def _tree(root: Path) -> list[Path]:
    return sorted(root.rglob("*"))


def test_store_and_read_back_with_metadata(store, alice):
    data = MARKER * 100
    stored = store.store(io.BytesIO(data), LOC, "out/report.txt", alice.recipient)
    assert stored.key == "alice/proj/20250102T030405Z/task-1/out/report.txt"
    assert stored.path == store.root / stored.key and stored.path.stat().st_size == stored.ciphertext_size
    assert (stored.relpath, stored.plaintext_size, stored.key_version) == ("out/report.txt", len(data), 1)
    assert stored.sha256 == __import__("hashlib").sha256(data).hexdigest()
    assert stored.file_id == file_id_for(LOC, "out/report.txt")
    assert b"".join(store.iter_plaintext(stored.key, alice, file_id=stored.file_id)) == data


def test_permissions_are_private_even_under_a_permissive_umask(store, alice, tmp_path):
    source = tmp_path / "plain.bin"
    source.write_bytes(MARKER)
    old = os.umask(0)
    try:
        stored = store.store(source, LOC, "a/b/c.bin", alice.recipient)
        out = store.decrypt_to_path(stored.key, tmp_path / "restored.bin", alice, file_id=stored.file_id)
    finally:
        os.umask(old)
    assert out == len(MARKER) and stat.S_IMODE((tmp_path / "restored.bin").stat().st_mode) == 0o600
    for path in [store.root, *_tree(store.root)]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_no_plaintext_ever_reaches_the_storage_disk(store, alice):
    store.store(io.BytesIO(MARKER * 1000), LOC, "data.txt", alice.recipient)
    for path in _tree(store.root):
        if path.is_file():
            assert MARKER not in path.read_bytes() and MARKER[:8] not in path.read_bytes()


@pytest.mark.parametrize("relpath", ["../escape.txt", "/etc/passwd", "a/../../x", ".hidden", "a//b", "a/\x00"])
def test_escaping_or_odd_paths_are_refused_and_nothing_is_written(store, alice, relpath):
    with pytest.raises(SecurityError):
        store.store(io.BytesIO(b"x"), LOC, relpath, alice.recipient)
    assert _tree(store.root) == []


@pytest.mark.parametrize("field", ["user", "project", "submitted_at", "task_id"])
def test_location_components_are_validated(field):
    values = {"user": "alice", "project": "proj", "submitted_at": "20250102T030405Z", "task_id": "t1"}
    with pytest.raises(SecurityError):
        ResultLocation(**{**values, field: "../x"})


def test_submitted_at_is_formatted_in_utc_and_naive_times_refused():
    when = datetime(2025, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert ResultLocation.of("alice", "p", when, "t").submitted_at == "20250102T030405Z"
    with pytest.raises(StorageError, match="timezone-aware"):
        ResultLocation.of("alice", "p", datetime(2025, 1, 2), "t")


def test_a_symlink_planted_in_the_tree_is_not_followed(store, alice, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    os.symlink(outside, store.root / "alice")
    with pytest.raises(SecurityError, match="symbolic link"):
        store.store(io.BytesIO(b"x"), LOC, "f.txt", alice.recipient)
    assert list(outside.iterdir()) == []


def test_reading_refuses_a_swapped_in_symlink_or_hard_link(store, alice, tmp_path):
    stored = store.store(io.BytesIO(b"mine"), LOC, "f.txt", alice.recipient)
    decoy = tmp_path / "decoy"
    decoy.write_bytes(stored.path.read_bytes())
    stored.path.unlink()
    os.symlink(decoy, stored.path)
    with pytest.raises(SecurityError, match="symbolic link"):
        store.open_encrypted(stored.key)
    stored.path.unlink()
    os.link(decoy, stored.path)
    with pytest.raises(SecurityError, match="hard links"):
        store.open_encrypted(stored.key)


def test_a_directory_opened_to_others_is_refused(store, alice):
    store.store(io.BytesIO(b"x"), LOC, "f.txt", alice.recipient)
    os.chmod(store.root / "alice", 0o755)
    with pytest.raises(SecurityError, match="chmod 700"):
        store.store(io.BytesIO(b"y"), LOC, "g.txt", alice.recipient)


def test_a_fifo_or_symlink_as_source_is_refused(store, alice, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(SecurityError, match="not a regular file"):
        store.store(tmp_path / "fifo", LOC, "f", alice.recipient)
    (tmp_path / "real").write_bytes(b"x")
    os.symlink(tmp_path / "real", tmp_path / "link")
    with pytest.raises(SecurityError, match="symbolic link"):
        store.store(tmp_path / "link", LOC, "f", alice.recipient)
    with pytest.raises(StorageError, match="cannot read"):
        store.store(tmp_path / "missing", LOC, "f", alice.recipient)


def test_storing_the_same_task_path_again_replaces_the_one_file(store, alice):
    first = store.store(io.BytesIO(b"first"), LOC, "out.txt", alice.recipient)
    second = store.store(io.BytesIO(b"second"), LOC, "out.txt", alice.recipient)
    assert first.file_id == second.file_id and first.key == second.key
    assert [p.name for p in first.path.parent.iterdir()] == ["out.txt"]
    assert b"".join(store.iter_plaintext(second.key, alice, file_id=second.file_id)) == b"second"


def test_ciphertext_is_complete_and_durable_under_a_temporary_name_before_the_real_one_appears(store, alice):
    seen = {}

    def publish(stored):
        siblings = list(stored.path.parent.iterdir())
        seen.update(final_exists=stored.path.exists(), temporaries=[(p.name, p.stat().st_size) for p in siblings])
        return True

    stored = store.store(io.BytesIO(os.urandom(2000)), LOC, "f.bin", alice.recipient, publish=publish)
    assert seen["final_exists"] is False
    [(name, size)] = seen["temporaries"]
    assert name.startswith(".tmp-") and size == stored.ciphertext_size
    assert [p.name for p in stored.path.parent.iterdir()] == ["f.bin"]


def test_publish_decides_which_copy_wins_and_leaves_no_temporaries(store, alice):
    first = store.store(io.BytesIO(b"first"), LOC, "out.txt", alice.recipient)
    seen = []
    store.store(io.BytesIO(b"again"), LOC, "out.txt", alice.recipient, publish=lambda f: seen.append(f) or False)
    assert seen and seen[0].plaintext_size == 5 and not seen[0].path.read_bytes() == b""
    assert b"".join(store.iter_plaintext(first.key, alice, file_id=first.file_id)) == b"first"

    def boom(_):
        raise RuntimeError("index down")

    with pytest.raises(RuntimeError):
        store.store(io.BytesIO(b"third"), LOC, "out.txt", alice.recipient, publish=boom)
    assert b"".join(store.iter_plaintext(first.key, alice, file_id=first.file_id)) == b"first"
    assert [p.name for p in first.path.parent.iterdir()] == ["out.txt"]


def test_a_failing_source_leaves_no_partial_file(store, alice):
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise OSError(5, "Input/output error")

    with pytest.raises(StorageError, match="could not store"):
        store.store(Broken(), LOC, "f.txt", alice.recipient)
    assert [p for p in _tree(store.root) if p.is_file()] == []


def test_refuses_to_store_for_one_user_with_anothers_key(store):
    with pytest.raises(StorageError, match="refusing"):
        store.store(io.BytesIO(b"x"), LOC, "f.txt", generate_user_key("bob").recipient)


def test_decrypt_to_path_never_exposes_a_tampered_file(store, alice, tmp_path, monkeypatch):
    stored = store.store(io.BytesIO(os.urandom(3000)), LOC, "f.bin", alice.recipient)
    data = bytearray(stored.path.read_bytes())
    data[-300] ^= 1  # a late segment: earlier segments authenticate before the failure
    stored.path.write_bytes(bytes(data))
    target = tmp_path / "out" / "f.bin"
    target.parent.mkdir()
    writes = []
    real_write = file_store._WritebackFile.write

    def watched_write(self, chunk):
        writes.append(target.exists())  # plaintext is being written: the final name must not exist yet
        return real_write(self, chunk)

    monkeypatch.setattr(file_store._WritebackFile, "write", watched_write)
    with pytest.raises(StorageError, match="failed authentication"):
        store.decrypt_to_path(stored.key, target, alice, file_id=stored.file_id)
    assert writes and not any(writes)
    assert list(target.parent.iterdir()) == []


def test_decrypt_to_path_does_not_clobber_unless_asked(store, alice, tmp_path):
    stored = store.store(io.BytesIO(b"new"), LOC, "f.bin", alice.recipient)
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(StorageError, match="already exists"):
        store.decrypt_to_path(stored.key, target, alice, file_id=stored.file_id)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    assert store.decrypt_to_path(stored.key, target, alice, file_id=stored.file_id, overwrite=True) == 3
    assert target.read_bytes() == b"new"


def test_errors_before_any_plaintext_are_raised_when_the_read_starts(store, alice):
    stored = store.store(io.BytesIO(b"x"), LOC, "f.bin", alice.recipient)
    with pytest.raises(StorageError, match="no stored file"):
        store.iter_plaintext(stored.key + "-missing", alice, file_id=stored.file_id)
    with pytest.raises(StorageError, match="another file"):
        store.iter_plaintext(stored.key, alice, file_id=file_id_for(LOC, "other"))


BIG_FILE_CHILD = textwrap.dedent(
    """
    import hashlib, io, json, os, sys
    from pathlib import Path
    from cloudai_tasks.storage.file_store import FileStore, ResultLocation
    from cloudai_tasks.storage.user_keys import generate_user_key

    SIZE = int(sys.argv[2])
    PERIOD = (1 << 20) + 4093  # not a multiple of the segment size, so no two segments are alike
    BLOCK = os.urandom(PERIOD) * 2

    class Generated(io.RawIOBase):
        '''SIZE pseudo-random bytes made on the fly: byte i is BLOCK[i % PERIOD], whatever the read sizes.'''
        def __init__(self):
            self.pos = 0
        def readable(self):
            return True
        def readinto(self, b):
            n = min(len(b), SIZE - self.pos, PERIOD)
            start = self.pos % PERIOD
            b[:n] = BLOCK[start:start + n]
            self.pos += n
            return n

    def rss_mib():
        # VmHWM is this process's own peak; ru_maxrss would include the parent's peak inherited across exec
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) // 1024

    expected = hashlib.sha256()
    src = Generated()
    while chunk := src.read(1 << 20):
        expected.update(chunk)
    key = generate_user_key("alice")
    baseline = rss_mib()
    store = FileStore(Path(sys.argv[1]))
    stored = store.store(Generated(), ResultLocation("alice", "p", "20250101T000000Z", "big"), "big.bin", key.recipient)
    after_store = rss_mib()
    got, size = hashlib.sha256(), 0
    for segment in store.iter_plaintext(stored.key, key, file_id=stored.file_id):
        got.update(segment)
        size += len(segment)
    print(json.dumps({"baseline": baseline, "store": after_store, "decrypt": rss_mib(), "size": size,
                      "stored_size": stored.plaintext_size, "ok": got.hexdigest() == expected.hexdigest() == stored.sha256,
                      "ciphertext": stored.path.stat().st_size == stored.ciphertext_size}))
    """
)


def test_a_256_mib_file_round_trips_in_bounded_memory(tmp_path):
    size = 256 << 20
    result = subprocess.run([sys.executable, "-c", BIG_FILE_CHILD, str(tmp_path / "results"), str(size)],
                            capture_output=True, text=True, timeout=240, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["ciphertext"], report
    assert report["size"] == report["stored_size"] == size
    assert report["store"] - report["baseline"] <= 16 and report["decrypt"] - report["baseline"] <= 16, report
    assert report["decrypt"] <= 64, report


def test_a_known_digest_is_recorded_without_rehashing_and_must_be_well_formed(tmp_path):
    import hashlib

    from cloudai_tasks.errors import StorageError as _StorageError
    from cloudai_tasks.storage.file_store import FileStore as _FileStore, ResultLocation as _Location
    from cloudai_tasks.storage.user_keys import generate_user_key as _generate

    key = _generate("alice")
    store = _FileStore(tmp_path / "root")
    where = _Location.of("alice", "p", "20260101T000000Z", "t1")
    src = tmp_path / "in.bin"
    src.write_bytes(b"payload")
    known = hashlib.sha256(b"payload").hexdigest()
    assert store.store(src, where, "a", key.recipient, sha256=known).sha256 == known
    assert store.store(src, where, "b", key.recipient).sha256 == known
    with pytest.raises(_StorageError, match="64 lower-case hex"):
        store.store(src, where, "c", key.recipient, sha256="not-a-digest")
