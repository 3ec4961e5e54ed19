"""``cloudai workers``: enrol worker nodes, list them, rotate and revoke their keys."""
from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from typing import Iterator

import click

from ..settings import Settings


def parse_duration(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``15m``, ``45s`` or plain seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([dhms]?)\s*", text or "")
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration like 30d, 12h, 15m or 45s")
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "": "seconds"}[m.group(2)]
    return dt.timedelta(**{unit: int(m.group(1))})


@contextmanager
def _control_plane() -> Iterator[tuple[Settings, object, object]]:
    from ..security.broker_users import BrokerAdmin
    from ..storage.db import index_sessions

    settings = Settings.from_env()
    sessions = index_sessions(settings.database_url)
    broker = BrokerAdmin.connect(settings, socket_timeout=10)
    try:
        yield settings, sessions, broker
    finally:
        broker.close()


def _show_key(name: str, key, what: str) -> None:
    claims = key.claims
    click.echo(f"worker {name}: {what}; queues {', '.join(claims.queues)}; key {claims.key_id} expires "
               f"{claims.expires:%Y-%m-%d %H:%M} UTC")
    click.echo("start it with CLOUDAI_WORKER_KEY set to the key below (shown once, not stored anywhere):")
    click.echo(key.token)


@click.group()
def workers() -> None:
    """Worker nodes: each joins its queues only with a signed worker key, enforced by the broker."""


@workers.command()
@click.argument("name")
@click.option("--queues", required=True, help="Comma-separated queues the worker may consume.")
@click.option("--expires-in", "expires_in", default="30d", show_default=True, type=parse_duration)
def enroll(name: str, queues: str, expires_in: dt.timedelta) -> None:
    """Enroll NAME: issue its key and create its broker ACL user; prints the key once (last line)."""
    from ..security.signing_key import load_signing_key
    from ..security.worker_registry import enroll as do_enroll

    with _control_plane() as (settings, sessions, broker):
        signing_key = load_signing_key(settings.home)
        with sessions.begin() as session:
            key = do_enroll(session, broker, signing_key, name, queues.split(","), lifetime=expires_in)
    _show_key(name, key, "enrolled")


@workers.command("list")
def list_workers() -> None:
    """Workers with their queues, status, key expiry, and when they were first and last seen."""
    from ..storage.models import Worker

    def when(moment: dt.datetime | None) -> str:
        return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"

    from ..storage.db import index_sessions

    with index_sessions(Settings.from_env().database_url)() as session:  # the registry only: no broker login
        rows = session.query(Worker).order_by(Worker.id).all()
    click.echo(f"{'NAME':20s} {'STATUS':8s} {'QUEUES':24s} {'EXPIRES':19s} {'FIRST SEEN':19s} {'LAST SEEN':19s} "
               f"OLD KEY UNTIL")
    for w in rows:
        click.echo(f"{w.id:20s} {w.status:8s} {w.queues:24s} {when(w.expires_at):19s} {when(w.first_seen):19s} "
                   f"{when(w.last_seen):19s} {when(w.previous_valid_until)}")


@workers.command()
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke every key of NAME; its broker connections are closed at once."""
    from ..security.worker_keys import check_worker_id
    from ..security.worker_registry import revoke as do_revoke

    check_worker_id(name)  # before it is matched against the broker's user names
    with _control_plane() as (_settings, sessions, broker):
        with sessions.begin() as session:
            connections = broker.worker_connections(name)
            do_revoke(session, broker, name)
    click.echo(f"worker {name}: revoked; {connections} live broker connection(s) closed")


@workers.command("rotate-key")
@click.argument("name")
@click.option("--grace", default="24h", show_default=True, type=parse_duration,
              help="How long the old key keeps working (0 stops it at once).")
@click.option("--expires-in", "expires_in", default="30d", show_default=True, type=parse_duration)
def rotate_key(name: str, grace: dt.timedelta, expires_in: dt.timedelta) -> None:
    """Issue a new key for NAME; the old one stops after the grace period. Prints the key once (last line)."""
    from ..security.signing_key import load_signing_key
    from ..security.worker_registry import rotate

    with _control_plane() as (settings, sessions, broker):
        signing_key = load_signing_key(settings.home)
        with sessions.begin() as session:
            key = rotate(session, broker, signing_key, name, lifetime=expires_in, grace=grace)
    _show_key(name, key, f"new key; the old one works for {grace} more")
