"""Round-trip throughput of trivial tasks: ACL-enforced and TLS-only secure configurations against stock Celery.

* stock: stock Celery over plain-text ``redis://`` with default settings;
* secure: this package over TLS with client certificates, every broker login unrestricted (no per-principal ACL);
* acl: the same with the ACL users ``cloudai init`` and ``cloudai workers enroll`` create, as deployed.

Each configuration gets its own Redis and a 2-process worker (an enrolled worker key for ours); rounds interleave
the configurations, rotating their order each round (so none always follows the same one; use a multiple of 3
rounds), so all see the same machine noise, and the medians are compared. The last lines are the ratios
secure/stock and acl/secure (the cost of enforcing ACLs; target >= 0.95).

    .venv/bin/python bench/throughput.py [--tasks 3000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from celery import Celery  # noqa: E402
from celery.result import ResultSet  # noqa: E402

from cloudai_tasks.app import create_app  # noqa: E402
from tests.fixtures.services import RedisServer, spawn_worker, start_plain_redis, start_redis, stop  # noqa: E402


def run_round(app: Celery, n: int) -> float:
    """Enqueue n tasks, wait for every result; tasks per second."""
    start = time.perf_counter()
    results = ResultSet([app.signature("cloudai.ping", args=(i,)).delay() for i in range(n)])
    values = results.join_native(timeout=600)
    elapsed = time.perf_counter() - start
    if values != list(range(n)):
        raise SystemExit("wrong results: the benchmark measured nothing useful")
    return n / elapsed


def open_every_login(server: RedisServer) -> None:
    """Lift every ACL user's restrictions (logins stay, TLS stays): the secure configuration without ACLs."""
    client = server.client("admin")
    for user in client.execute_command("ACL", "USERS"):
        name = user.decode() if isinstance(user, bytes) else user
        if name != "default":
            client.execute_command("ACL", "SETUSER", name, "clearselectors", "allkeys", "allchannels", "+@all")
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cloudai-bench-"))
    rates: dict[str, list[float]] = {"stock": [], "secure": [], "acl": []}
    with contextlib.ExitStack() as cleanup:  # whatever started is stopped, also when a later start fails
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)  # keys and ACL secrets of throwaway homes
        plain_proc, plain_port = start_plain_redis(work / "plain")
        cleanup.callback(stop, plain_proc)
        secure = start_redis(work / "secure")
        cleanup.callback(stop, secure.proc)
        acl = start_redis(work / "acl")
        cleanup.callback(stop, acl.proc)
        stock_url = f"redis://127.0.0.1:{plain_port}/0"
        for env, name, app in (({"STOCK_BROKER_URL": stock_url}, "stock", "bench.stock_app"),
                               (secure.env("worker"), "secure", "cloudai_tasks"),
                               (acl.env("worker"), "acl", "cloudai_tasks")):
            worker = spawn_worker(env, work / f"{name}-worker.log", name=name, concurrency=2, app=app)
            cleanup.callback(worker.stop)
        open_every_login(secure)
        configs = {
            "stock": Celery("stock-producer", broker=stock_url, backend=stock_url),
            "secure": create_app(secure.settings("producer")),
            "acl": create_app(acl.settings("producer")),
        }
        for app in configs.values():
            run_round(app, 200)  # warm up connections and worker pools
        names = list(configs)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:  # each takes every position in turn
                rate = run_round(configs[name], args.tasks)
                rates[name].append(rate)
                print(f"round {r + 1} {name:6s} {rate:8.1f} tasks/s", flush=True)
    medians = {name: statistics.median(v) for name, v in rates.items()}
    for name, m in medians.items():
        print(f"{name:6s} median {m:8.1f} tasks/s over {args.rounds} rounds of {args.tasks}")
    print(f"ratio acl/stock = {medians['acl'] / medians['stock']:.2f} (as deployed: TLS + ACLs, against stock Celery)")
    print(f"ratio acl/secure = {medians['acl'] / medians['secure']:.2f} (cost of the ACLs; target >= 0.95)")
    print(f"ratio secure/stock = {medians['secure'] / medians['stock']:.2f} (TLS configuration; target >= 0.9)")


if __name__ == "__main__":
    main()
