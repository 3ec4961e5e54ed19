"""`cloudai submit --input`: NAME=FILE or a bare FILE, whose own name may contain '='."""
from __future__ import annotations

import click
import pytest

from cloudai_tasks.cli.submit import _inputs


def test_bare_paths_and_named_files(tmp_path):
    plain, odd = tmp_path / "data.txt", tmp_path / "a=b.txt"
    plain.write_text("one")
    odd.write_text("two")
    got = _inputs((str(plain), str(odd), f"renamed.txt={plain}"))
    assert set(got) == {"data.txt", "a=b.txt", "renamed.txt"}


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(click.BadParameter, match="is not a file"):
        _inputs((f"x={tmp_path / 'missing'}",))
