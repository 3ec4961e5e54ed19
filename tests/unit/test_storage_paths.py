"""Only narrow, validated names become path components; walking refuses links at every step."""
from __future__ import annotations

import os

import pytest

from cloudai_tasks.errors import SecurityError
from cloudai_tasks.security.paths import (
    MAX_RELPATH_DEPTH,
    open_dir_beneath,
    open_regular_beneath,
    safe_join,
    validate_component,
    validate_relpath,
)

BAD_COMPONENTS = ["", ".", "..", ".hidden", "-rf", "a/b", "a\\b", "a\x00b", "a b", "tab\t", "new\nline", "é",
                  "ｆｕｌｌ", "x" * 129, "a:b", "a*b", "~user"]
GOOD_COMPONENTS = ["out.txt", "A_b-1.tar.gz", "x" * 128, "0", "_", "report@2025,v=2+final"]


@pytest.mark.parametrize("name", BAD_COMPONENTS)
def test_unsafe_components_are_refused(name):
    with pytest.raises(SecurityError):
        validate_component(name)


@pytest.mark.parametrize("name", GOOD_COMPONENTS)
def test_ordinary_names_pass(name):
    assert validate_component(name) == name


@pytest.mark.parametrize("path", ["/etc/passwd", "a//b", "a/../b", "../x", "a/./b", "a/", "", "a/b\x00",
                                  "/".join(["d"] * (MAX_RELPATH_DEPTH + 1)), "a/" + "b" * 1100, None])
def test_unsafe_relative_paths_are_refused(path):
    with pytest.raises(SecurityError):
        validate_relpath(path)


def test_relative_paths_split_into_validated_components(tmp_path):
    assert validate_relpath("dir/sub/file.csv") == ("dir", "sub", "file.csv")
    assert safe_join(tmp_path, "a/b.txt") == tmp_path / "a" / "b.txt"


def test_walking_refuses_a_symlinked_directory_and_creates_private_ones(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "root" / "link")
    with pytest.raises(SecurityError, match="symbolic link"):
        with open_dir_beneath(tmp_path / "root", ["link", "x"], create=True):
            pass
    assert not (tmp_path / "outside" / "x").exists()
    with open_dir_beneath(tmp_path / "root", ["new", "deeper"], create=True):
        pass
    assert (tmp_path / "root" / "new" / "deeper").stat().st_mode & 0o777 == 0o700


def test_opening_refuses_symlinks_hard_links_and_fifos(tmp_path):
    (tmp_path / "secret").write_text("host file")
    os.symlink(tmp_path / "secret", tmp_path / "sym")
    os.link(tmp_path / "secret", tmp_path / "hard")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "plain").write_text("ok")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name, reason in (("sym", "symbolic link"), ("hard", "hard links"), ("fifo", "not a regular file")):
            with pytest.raises(SecurityError, match=reason):
                open_regular_beneath(fd, name)
        plain = open_regular_beneath(fd, "plain")
        assert os.read(plain, 10) == b"ok"
        os.close(plain)
    finally:
        os.close(fd)
