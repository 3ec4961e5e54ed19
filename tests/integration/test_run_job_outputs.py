"""Output collection through a real worker: hostile entries are skipped, caps hold, nothing is followed."""
from __future__ import annotations

import pytest

from tests.fixtures.docker import job, submit
from tests.fixtures.storage import stored_names, stored_output

pytestmark = pytest.mark.integration


def test_symlinks_hard_links_and_fifos_are_not_collected(sandbox_worker, sandbox_producer, redis_server,
        no_leftover_containers):
    script = ("echo fine > /output/ok.txt; ln -s /etc/passwd /output/x; ln -s / /output/root; "
              "echo data > /output/a; ln /output/a /output/b; mkfifo /output/fifo; "
              "mkdir /output/d; ln -s /etc /output/d/etc; touch '/output/bad\nname'")
    manifest = submit(sandbox_producer, job(["sh", "-c", script])).get(timeout=60)

    assert [f["path"] for f in manifest["files"]] == ["ok.txt"]
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert reasons == {"x": "symbolic link", "root": "symbolic link", "a": "hard link", "b": "hard link",
                       "fifo": "FIFO", "d/etc": "symbolic link", "bad\\nname": "name not allowed"}
    assert stored_names(manifest) == ["output/ok.txt", "stderr", "stdout"]


def test_ten_thousand_small_files_stop_at_the_file_cap(sandbox_worker, sandbox_producer, redis_server,
        no_leftover_containers):
    script = ("import os\nmade = 0\nfor i in range(10000):\n    try:\n"
              "        open(f'/output/f{i:05d}', 'w').write('x')\n        made += 1\n"
              "    except OSError as e:\n        print('refused at', i, e.strerror); break\n"
              "print('made', made)")
    spec = job(["python3", "-c", script], limits={"wall_seconds": 30, "output_files": 100})
    manifest = submit(sandbox_producer, spec).get(timeout=90)
    stdout = stored_output(redis_server, manifest, "stdout").decode()

    assert "refused at" in stdout, "the output tmpfs must refuse files well before 10 000"
    assert int(stdout.split()[-1]) < 1000
    assert len(manifest["files"]) == 100
    assert manifest["truncated"] == "output_files cap of 100 reached"
    assert len([n for n in stored_names(manifest) if n.startswith("output/")]) == 100


def test_one_huge_file_stops_at_the_byte_cap(sandbox_worker, sandbox_producer, redis_server,
        no_leftover_containers):
    script = "echo small > /output/a-small.txt; head -c 300000000 /dev/zero > /output/big; echo rc=$?"
    spec = job(["sh", "-c", script], limits={"wall_seconds": 30, "output_bytes": 1024 * 1024})
    manifest = submit(sandbox_producer, spec).get(timeout=90)

    assert [f["path"] for f in manifest["files"]] == ["a-small.txt"]
    assert manifest["truncated"].startswith("output_bytes cap of 1048576 reached at big")
    assert stored_output(redis_server, manifest, "stdout").strip() != b"rc=0", "the write past the cap must fail"
    assert "output/big" not in stored_names(manifest)
