"""Invariant 5 through a real worker: job code cannot reach the host, the network, or past its limits."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from tests.fixtures.docker import job, submit
from tests.fixtures.storage import stored_output

pytestmark = pytest.mark.integration

PROBE_FS = r"""
import errno, json, os
result = {}
def attempt(name, fn):
    try:
        fn()
        result[name] = "ok"
    except OSError as e:
        result[name] = errno.errorcode[e.errno]
attempt("read_shadow", lambda: open("/etc/shadow").read())
attempt("read_host_marker", lambda: open(os.environ["HOST_MARKER"]).read())
attempt("docker_socket", lambda: os.stat("/var/run/docker.sock"))
writable = []
for line in open("/proc/self/mountinfo"):
    point = line.split()[4]
    if point.startswith(("/proc", "/sys")):
        continue
    try:
        with open(os.path.join(point, ".probe"), "w") as f:
            f.write("x")
        writable.append(point)
    except OSError:
        pass
for path in ("/etc/x", "/x", "/input/x", "/usr/x", "/var/tmp/x", "/root/x"):
    attempt("write " + path, lambda: open(path, "w").write("x"))
result["writable_mounts"] = sorted(writable)
result["mounts"] = sorted(line.split()[4] for line in open("/proc/self/mountinfo"))
result["uid"] = os.getuid()
json.dump(result, open("/output/fs.json", "w"))
"""

PROBE_NET = r"""
import json, socket, sys
result = {"interfaces": [name for _, name in socket.if_nameindex()]}
for host, port in json.loads(sys.argv[1]):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        result[f"{host}:{port}"] = "connected"
    except OSError as e:
        result[f"{host}:{port}"] = type(e).__name__
    finally:
        s.close()
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"x", ("1.1.1.1", 53))
    result["udp"] = "sent"
except OSError as e:
    result["udp"] = type(e).__name__
json.dump(result, open("/output/net.json", "w"))
"""

FORK_BOMB = r"""
import os, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print("stopped after", n, "forks:", e.strerror, flush=True)
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    n += 1
"""


def test_job_cannot_read_the_host_or_write_outside_output(sandbox_worker, sandbox_producer, redis_server, tmp_path,
                                                          no_leftover_containers):
    marker = tmp_path / "host-secret.txt"
    marker.write_text("host secret")
    spec = job(["python3", "-c", PROBE_FS], env={"HOST_MARKER": str(marker)})
    manifest = submit(sandbox_producer, spec).get(timeout=60)
    result = json.loads(stored_output(redis_server, manifest, "output/fs.json"))

    assert manifest["exit_code"] == 0
    assert result["uid"] == 65534
    assert result["read_shadow"] in ("EACCES", "ENOENT")  # the image's own (it has none), never the host's
    assert result["read_host_marker"] == "ENOENT"
    assert result["docker_socket"] == "ENOENT"
    assert {k: v for k, v in result.items() if k.startswith("write ")} == {
        "write /etc/x": "EROFS", "write /x": "EROFS", "write /input/x": "EROFS",
        "write /usr/x": "EROFS", "write /var/tmp/x": "EROFS", "write /root/x": "EACCES"}
    assert result["writable_mounts"] == ["/output", "/tmp"]
    assert str(tmp_path) not in " ".join(result["mounts"])


def test_job_cannot_open_any_network_connection(sandbox_worker, sandbox_producer, redis_server, no_leftover_containers):
    accepted = []
    listener = socket.create_server(("0.0.0.0", 0))
    listener.settimeout(8)
    port = listener.getsockname()[1]

    def serve():
        try:
            accepted.append(listener.accept())
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    host_ip = socket.gethostbyname(socket.gethostname())
    targets = [["127.0.0.1", port], [host_ip, port], ["1.1.1.1", 443], ["10.0.0.1", 80]]
    manifest = submit(sandbox_producer, job(["python3", "-c", PROBE_NET, json.dumps(targets)])).get(timeout=60)
    result = json.loads(stored_output(redis_server, manifest, "output/net.json"))
    listener.close()
    thread.join(10)

    assert result["interfaces"] == ["lo"]
    for host, p in targets:
        assert result[f"{host}:{p}"] in ("ConnectionRefusedError", "OSError"), (host, result)
    assert result["udp"] == "OSError"
    assert accepted == []


def test_fork_bomb_is_stopped_by_the_pids_limit(sandbox_worker, sandbox_producer, redis_server, no_leftover_containers):
    manifest = submit(sandbox_producer, job(["python3", "-c", FORK_BOMB],
                                            limits={"wall_seconds": 30, "pids": 32})).get(timeout=90)
    stdout = stored_output(redis_server, manifest, "stdout").decode()

    assert stdout.startswith("stopped after ")
    assert int(stdout.split()[2]) < 32
    assert manifest["exit_code"] == 0 and manifest["killed"] is False


def test_allocating_past_the_memory_limit_kills_the_job_and_says_so(sandbox_worker, sandbox_producer, redis_server,
                                                                   no_leftover_containers):
    spec = job(["python3", "-c", "b = bytearray(512 * 1024 * 1024); print('survived')"],
               limits={"wall_seconds": 30, "memory_mb": 64})
    manifest = submit(sandbox_producer, spec).get(timeout=90)

    assert manifest["killed"] is True and manifest["kill_reason"] == "memory"
    assert manifest["exit_code"] == 137
    assert b"survived" not in stored_output(redis_server, manifest, "stdout")


def test_sleep_past_the_deadline_is_killed_and_reported_as_timeout(sandbox_worker, sandbox_producer, redis_server,
                                                                   no_leftover_containers):
    manifest = submit(sandbox_producer, job(["sleep", "3600"], limits={"wall_seconds": 2})).get(timeout=60)

    assert manifest["killed"] is True and manifest["kill_reason"] == "timeout"
    assert 2 <= manifest["duration_seconds"] < 8
