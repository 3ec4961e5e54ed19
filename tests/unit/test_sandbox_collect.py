"""Collecting /output as hostile input: nothing is followed, special files are skipped, caps stop reading."""
from __future__ import annotations

import hashlib
import os
import socket
import stat

import pytest

from cloudai_tasks.sandbox.collect import MAX_REPORTED_SKIPS, collect_outputs


@pytest.fixture
def dirs(tmp_path):
    source, dest = tmp_path / "output", tmp_path / "staged"
    source.mkdir()
    dest.mkdir(mode=0o700)
    return source, dest


def collect(dirs, max_bytes=10**6, max_files=100):
    return collect_outputs(dirs[0], dirs[1], max_bytes=max_bytes, max_files=max_files)


def test_regular_files_are_copied_hashed_and_private(dirs):
    source, dest = dirs
    (source / "a.txt").write_bytes(b"alpha")
    (source / "sub" / "deeper").mkdir(parents=True)
    (source / "sub" / "deeper" / "b.bin").write_bytes(b"\x00" * 3000)
    result = collect(dirs)

    assert [(f.path, f.size) for f in result.files] == [("a.txt", 5), ("sub/deeper/b.bin", 3000)]
    assert result.files[0].sha256 == hashlib.sha256(b"alpha").hexdigest()
    assert (dest / "sub" / "deeper" / "b.bin").read_bytes() == b"\x00" * 3000
    assert stat.S_IMODE((dest / "a.txt").stat().st_mode) == 0o600
    assert result.truncated is None and result.skipped == []


def test_links_and_special_files_are_skipped_and_never_followed(dirs, tmp_path):
    source, dest = dirs
    secret = tmp_path / "host-secret"
    secret.write_text("host data")
    os.symlink(secret, source / "to-file")
    os.symlink(tmp_path, source / "to-dir")
    os.symlink("/etc/passwd", source / "passwd")
    (source / "original").write_text("x")
    os.link(source / "original", source / "hardlink")
    os.link(secret, source / "host-hardlink")
    os.mkfifo(source / "fifo")
    os.mknod(source / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mknod(source / "blk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(source / "sock"))
        result = collect(dirs)

    reasons = {s["path"]: s["reason"] for s in result.skipped}
    assert reasons == {"to-file": "symbolic link", "to-dir": "symbolic link", "passwd": "symbolic link",
                       "original": "hard link", "hardlink": "hard link", "host-hardlink": "hard link",
                       "fifo": "FIFO", "null": "character device", "blk": "block device", "sock": "socket"}
    assert result.files == []
    assert list(dest.iterdir()) == []


def test_bad_names_are_skipped_and_reported_escaped(dirs):
    source, _ = dirs
    for name in (b"new\nline", b"\xff\xfe", b".hidden", b"-rf", b"esc\x1b[31m"):
        open(os.path.join(os.fsencode(source), name), "w").close()
    (source / "good.txt").touch()
    result = collect(dirs)

    assert [f.path for f in result.files] == ["good.txt"]
    assert {s["reason"] for s in result.skipped} == {"name not allowed"}
    assert result.skipped_count == 5
    assert all(ch.isprintable() for s in result.skipped for ch in s["path"])


def test_nesting_is_bounded(dirs):
    source, _ = dirs
    deep = source.joinpath(*["d"] * 20)
    deep.mkdir(parents=True)
    (deep / "f").write_text("x")
    result = collect(dirs)
    assert result.files == []
    assert result.skipped[0]["reason"].startswith("nested more than")


def test_file_cap_stops_collection(dirs):
    source, dest = dirs
    for i in range(50):
        (source / f"f{i:03d}").write_text("x")
    result = collect(dirs, max_files=10)
    assert [f.path for f in result.files] == [f"f{i:03d}" for i in range(10)]
    assert result.truncated == "output_files cap of 10 reached"
    assert len(list(dest.iterdir())) == 10


def test_byte_cap_stops_before_reading_past_it(dirs, monkeypatch):
    source, dest = dirs
    (source / "a").write_bytes(b"a" * 600)
    with open(source / "huge", "wb") as f:
        f.truncate(50 * 1024**3)  # sparse: reading it would take minutes, so reaching the end fails the test
    (source / "z").write_bytes(b"z")
    read = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: read.append(len(data := real_read(fd, n))) or data)
    result = collect(dirs, max_bytes=1000)

    assert sum(read) <= 1000 + 1, "collection read past the byte cap"
    assert [f.path for f in result.files] == ["a"]
    assert result.truncated == "output_bytes cap of 1000 reached at huge"
    assert sorted(p.name for p in dest.iterdir()) == ["a"]


def test_a_file_growing_past_its_stat_size_is_cut_at_the_cap_not_kept_partially(dirs, monkeypatch):
    source, dest = dirs
    (source / "grows").write_bytes(b"g" * 5000)
    real_stat = os.stat

    def stale_stat(*args, **kwargs):
        st = real_stat(*args, **kwargs)
        if args and args[0] == "grows":
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, 10,
                                   st.st_atime, st.st_mtime, st.st_ctime))
        return st

    monkeypatch.setattr(os, "stat", stale_stat)
    result = collect(dirs, max_bytes=1000)
    assert result.files == [] and result.truncated.startswith("output_bytes cap")
    assert list(dest.iterdir()) == []


def test_skip_reports_are_bounded(dirs):
    source, _ = dirs
    for i in range(MAX_REPORTED_SKIPS + 20):
        os.symlink("/etc/passwd", source / f"l{i:04d}")
    result = collect(dirs)
    assert len(result.skipped) == MAX_REPORTED_SKIPS and result.skipped_count == MAX_REPORTED_SKIPS + 20
