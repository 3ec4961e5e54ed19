"""Baseline for bench/throughput.py: stock Celery, plaintext redis://, default settings, one trivial task."""
import os

from celery import Celery

app = Celery("stock", broker=os.environ["STOCK_BROKER_URL"], backend=os.environ["STOCK_BROKER_URL"])


@app.task(name="cloudai.ping")
def ping(value: int = 0) -> int:
    return value
