"""Latency and throughput of a trivial job: ``run_job`` end to end against a plain hardened ``docker run --rm``.

Both run the same command in the same image with the same hardening flags, sequentially and at concurrency 2
(two clients, each waiting for its job before sending the next), in alternating rounds so both see the same
machine noise. run_job goes producer -> TLS Redis -> a 2-process worker -> Docker -> collection -> result.
A third column, "api", runs the identical container through the Docker API alone (create, start, wait,
remove; what the worker does minus queue, log capture and collection), to show run_job's own overhead
without the docker CLI's start-up cost that "raw" carries. The last lines are the ratios run_job/raw
(targets: p50 <= 1.15x, throughput >= 0.9x), then run_job/api.

    .venv/bin/python bench/sandbox.py [--jobs 24] [--rounds 3] [--command true]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from cloudai_tasks.app import create_app  # noqa: E402
from cloudai_tasks.sandbox.docker_api import connect  # noqa: E402
from cloudai_tasks.sandbox.hardening import container_config  # noqa: E402
from cloudai_tasks.sandbox.image_build import build_image  # noqa: E402
from cloudai_tasks.sandbox.spec import JobSpec  # noqa: E402
from cloudai_tasks.sandbox.workspace import JobDir  # noqa: E402
from tests.fixtures.storage import ensure_users  # noqa: E402
from tests.fixtures.services import spawn_worker, start_redis, stop  # noqa: E402

DOCKER_URL = "unix:///var/run/docker.sock"


def raw_argv(image_id: str, command: list[str], work: Path) -> list[str]:
    """The same container settings run_job uses (hardening.py), as docker CLI flags."""
    return ["docker", "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges:true", "--user", "65534:65534", "--memory", "256m",
            "--memory-swap", "256m", "--cpus", "1", "--pids-limit", "64", "--ulimit", "nofile=1024:1024",
            "--ulimit", "nproc=256:256", "--ulimit", f"fsize={64 * 2**20}:{64 * 2**20}", "--ulimit", "core=0:0",
            "--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=64m", "--ipc", "none", "--init", "--log-driver", "none",
            "--oom-score-adj", "500", "-v", f"{work / 'input'}:/input:ro", "-v", f"{work / 'output'}:/output:rw",
            "-w", "/output", "--entrypoint", command[0], image_id, *command[1:]]


def run_raw(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"raw docker run failed: {done.stderr.decode(errors='replace')}")


def run_api(api, config: dict) -> None:
    container = api.create_container(**config)["Id"]
    try:
        api.start(container)
        if api.wait(container, timeout=120)["StatusCode"] != 0:
            raise SystemExit("api run failed")
    finally:
        api.remove_container(container, force=True)


def run_job(app, spec: dict) -> float:
    manifest = app.signature("cloudai.run_job", args=(spec,)).delay().get(timeout=120)
    if manifest["exit_code"] != 0:
        raise SystemExit(f"run_job failed: {manifest}")
    return manifest["duration_seconds"]


def measure(make_call, jobs: int, clients: int) -> tuple[list[float], float]:
    """Latencies of ``jobs`` calls spread over ``clients`` threads, and jobs per second overall."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(call, n: int) -> None:
        for _ in range(n):
            t = time.perf_counter()
            call()
            with lock:
                latencies.append(time.perf_counter() - t)

    calls = [make_call() for _ in range(clients)]
    threads = [threading.Thread(target=client, args=(calls[i], jobs // clients)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, len(latencies) / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=24, help="jobs per measurement (even)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--command", nargs="+", default=["true"])
    args = parser.parse_args()

    image = build_image(connect(DOCKER_URL).api)
    work = Path(tempfile.mkdtemp(prefix="cloudai-bench-sandbox-"))
    (work / "input").mkdir()
    (work / "output").mkdir()
    (work / "output").chmod(0o777)
    redis = start_redis(work / "home")
    ensure_users(redis, ["bench"])  # the job's owner: its outputs are encrypted and indexed for this user
    env = {**redis.env("worker"), "CLOUDAI_SANDBOX_IMAGES": f"python={image.id}", "CLOUDAI_WORKER_ID": "bench",
           "CLOUDAI_SANDBOX_OUTPUTS": str(work / "outputs"), "CLOUDAI_PREFETCH_MULTIPLIER": "1"}
    worker = spawn_worker(env, work / "worker.log", name="bench", concurrency=2)
    spec = {"user_id": "bench", "project": "bench", "image": "python", "command": args.command}
    apps: list = []

    def job_call():
        app = create_app(redis.settings("producer"))
        apps.append(app)
        return lambda: durations.append(run_job(app, spec))

    durations: list[float] = []
    argv = raw_argv(image.id, args.command, work)
    api = connect(DOCKER_URL).api
    config = container_config(api, image_id=image.id, spec=JobSpec("bench", "bench", "python", tuple(args.command)),
                              job=JobDir(work), labels={})
    kinds = {"raw": lambda: (lambda: run_raw(argv)), "api": lambda: (lambda: run_api(api, config)),
             "run_job": job_call}
    results = {(k, c): ([], []) for k in kinds for c in (1, 2)}
    try:
        for kind in kinds.values():
            measure(kind, 4, 2)  # warm up: image cache, worker pools, connections
        durations.clear()
        for r in range(args.rounds):
            for clients in (1, 2):
                for name, kind in kinds.items():
                    lat, rate = measure(kind, args.jobs, clients)
                    results[(name, clients)][0].extend(lat)
                    results[(name, clients)][1].append(rate)
                    print(f"round {r + 1} concurrency {clients} {name:7s} p50 {statistics.median(lat):.3f} s "
                          f"{rate:5.2f} jobs/s", flush=True)
    finally:
        for app in apps:
            app.close()
        worker.stop()
        stop(redis.proc)
        shutil.rmtree(work, ignore_errors=True)
    print()
    summary = {}
    for (name, clients), (lat, rates) in results.items():
        summary[(name, clients)] = (pct(lat, 50), pct(lat, 95), statistics.median(rates))
        print(f"concurrency {clients} {name:7s} p50 {summary[(name, clients)][0]:.3f} s  "
              f"p95 {summary[(name, clients)][1]:.3f} s  throughput {summary[(name, clients)][2]:.2f} jobs/s")
    print(f"run_job time inside the container (manifest duration): p50 {statistics.median(durations):.3f} s")
    for base in ("raw", "api"):
        for clients in (1, 2):
            ref, job = summary[(base, clients)], summary[("run_job", clients)]
            print(f"ratio run_job/{base} concurrency {clients}: p50 {job[0] / ref[0]:.2f}x  p95 {job[1] / ref[1]:.2f}x"
                  f"  throughput {job[2] / ref[2]:.2f}x")


if __name__ == "__main__":
    main()
