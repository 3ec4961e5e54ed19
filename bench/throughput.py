"""Round-trip throughput of trivial tasks: our secure configuration against stock Celery, in one run.

Each configuration gets its own Redis and a 2-process worker; rounds alternate (stock, secure, stock, ...)
so both see the same machine noise, and the medians are compared. The last line is the ratio secure/stock.

    .venv/bin/python bench/throughput.py [--tasks 3000] [--rounds 3]
"""
from __future__ import annotations

import argparse
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
from tests.fixtures.services import spawn_worker, start_plain_redis, start_redis, stop  # noqa: E402


def run_round(app: Celery, n: int) -> float:
    """Enqueue n tasks, wait for every result; tasks per second."""
    start = time.perf_counter()
    results = ResultSet([app.signature("cloudai.ping", args=(i,)).delay() for i in range(n)])
    values = results.join_native(timeout=600)
    elapsed = time.perf_counter() - start
    if values != list(range(n)):
        raise SystemExit("wrong results: the benchmark measured nothing useful")
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cloudai-bench-"))
    plain_proc, plain_port = start_plain_redis(work / "plain")
    secure = start_redis(work / "home")
    stock_url = f"redis://127.0.0.1:{plain_port}/0"
    workers = [
        spawn_worker({"STOCK_BROKER_URL": stock_url}, work / "stock-worker.log", name="stock", concurrency=2,
                     app="bench.stock_app"),
        spawn_worker(secure.env("worker"), work / "secure-worker.log", name="secure", concurrency=2),
    ]
    configs = {
        "stock": Celery("stock-producer", broker=stock_url, backend=stock_url),
        "secure": create_app(secure.settings("producer")),
    }
    rates: dict[str, list[float]] = {name: [] for name in configs}
    try:
        for app in configs.values():
            run_round(app, 200)  # warm up connections and worker pools
        for r in range(args.rounds):
            for name, app in configs.items():
                rate = run_round(app, args.tasks)
                rates[name].append(rate)
                print(f"round {r + 1} {name:6s} {rate:8.1f} tasks/s", flush=True)
    finally:
        for w in workers:
            w.stop()
        stop(secure.proc)
        stop(plain_proc)
    medians = {name: statistics.median(v) for name, v in rates.items()}
    for name, m in medians.items():
        print(f"{name:6s} median {m:8.1f} tasks/s over {args.rounds} rounds of {args.tasks}")
    print(f"ratio secure/stock = {medians['secure'] / medians['stock']:.2f}")


if __name__ == "__main__":
    main()
