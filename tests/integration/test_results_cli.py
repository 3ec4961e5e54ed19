"""The control plane's commands on real stored results: decrypt with `cloudai results get`, shred with `users delete`."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fixtures.docker import job, submit
from tests.fixtures.services import REPO
from tests.fixtures.storage import ensure_users

pytestmark = pytest.mark.integration


def _cloudai(redis_server, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **redis_server.env("admin")}
    return subprocess.run([sys.executable, "-m", "cloudai_tasks.cli", *args], env=env, cwd=REPO, capture_output=True,
                          timeout=120)


def test_results_get_decrypts_and_deleting_the_owner_shreds(sandbox_worker, sandbox_producer, redis_server, tmp_path):
    ensure_users(redis_server, ["carol"])
    spec = job(["sh", "-c", "printf 'for carol only' > /output/note.txt"], user_id="carol")
    manifest = submit(sandbox_producer, spec).get(timeout=60)
    file_id = next(f["file_id"] for f in manifest["stored"]["files"] if f["path"] == "output/note.txt")

    listed = _cloudai(redis_server, "results", "list", "--user", "carol")
    assert listed.returncode == 0 and file_id in listed.stdout.decode()
    got = _cloudai(redis_server, "results", "get", file_id)
    assert got.returncode == 0, got.stderr
    assert got.stdout == b"for carol only"
    out = tmp_path / "note.txt"
    assert _cloudai(redis_server, "results", "get", file_id, "-o", str(out)).returncode == 0
    assert out.read_bytes() == b"for carol only" and out.stat().st_mode & 0o077 == 0

    refused = _cloudai(redis_server, "users", "delete", "carol")
    assert refused.returncode != 0 and b"--yes" in refused.stderr
    assert _cloudai(redis_server, "users", "delete", "carol", "--yes").returncode == 0
    shredded = _cloudai(redis_server, "results", "get", file_id)
    assert shredded.returncode != 0 and b"destroyed" in shredded.stderr and shredded.stdout == b""
    assert b"unrecoverable" in _cloudai(redis_server, "results", "list", "--user", "carol").stdout
    verify = _cloudai(redis_server, "audit", "verify")
    assert verify.returncode == 0 and b"audit chain intact" in verify.stdout


def test_results_get_prints_nothing_of_a_truncated_file(sandbox_worker, sandbox_producer, redis_server):
    """Segments authenticate one by one; the CLI must not print the authentic prefix of a cut-short file."""
    from cloudai_tasks.storage.models import StoredFile

    ensure_users(redis_server, ["dave"])
    spec = job(["sh", "-c", "head -c 2500000 /dev/urandom > /output/big.bin"], user_id="dave")
    manifest = submit(sandbox_producer, spec).get(timeout=60)
    file_id = next(f["file_id"] for f in manifest["stored"]["files"] if f["path"] == "output/big.bin")
    with redis_server.sessions()() as session:
        stored = redis_server.settings().storage_root / session.get(StoredFile, file_id).stored_path
    assert len(_cloudai(redis_server, "results", "get", file_id).stdout) == 2500000
    with open(stored, "r+b") as fh:  # drop the end of the last segment: the first two still authenticate
        fh.truncate(stored.stat().st_size - 100)
    cut = _cloudai(redis_server, "results", "get", file_id)
    assert cut.returncode != 0 and b"Traceback" not in cut.stderr
    assert cut.stdout == b""
