"""A worker joins its queues only with a valid worker key: the Celery bootstep that checks it at start-up.

Before the worker opens any broker connection the step verifies the key's signature and expiry, that every
requested queue is named in it, that the registry still knows the key, and that the broker accepts it as that
worker's ACL user for those queues. Any failure ends the process at once (exit status 77), says which of
missing / forged / expired / revoked / unknown / wrong-queue it was, and is audited. There is no fallback: the
worker's only broker credentials are its key. While it runs, a thread updates ``last_seen`` and ends the worker,
running jobs included, when the registry no longer accepts its key: the broker has cut it off by then, and a
worker that is no longer trusted should not go on producing results.

The step also turns gossip and mingle off: both would need rights the worker's ACL user does not have
(reading every worker's events; publishing remote-control commands to other workers).
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from typing import Iterable

import redis
from celery import bootsteps
from celery.signals import worker_process_init
from celery.utils.log import get_logger
from celery.worker import state as worker_state
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import CloudAIError, ConfigError, ServiceError, WorkerKeyRefused
from ..settings import Settings
from ..storage.db import make_engine, session_factory
from ..storage.models import Worker, utcnow
from . import audit
from .broker_acl import CONTROL_QUEUE
from .signing_key import load_verify_keys
from .transport import IN_PROCESS_SCHEMES, check_url, redis_client
from .worker_keys import WorkerClaims, check_queues, verify
from .worker_registry import as_utc

logger = get_logger(__name__)
EXIT_REFUSED = os.EX_NOPERM  # 77


def key_standing(session: Session, claims: WorkerClaims, now: dt.datetime) -> None:
    """Refuse a key the registry does not accept; reads only columns the worker's database role may read."""
    row = session.execute(
        select(Worker.status, Worker.key_id, Worker.previous_key_id, Worker.previous_valid_until)
        .where(Worker.id == claims.worker_id)).one_or_none()
    name = claims.worker_id
    if row is None:
        raise WorkerKeyRefused("unknown", f"no worker named {name!r} is enrolled here (`cloudai workers list`)",
                               worker=name)
    if row.status == "revoked":
        raise WorkerKeyRefused("revoked", f"worker {name!r} was revoked; an admin may enroll it again", worker=name)
    if row.status == "expired":
        raise WorkerKeyRefused("expired", f"the key of worker {name!r} expired; issue a new one with "
                                          f"`cloudai workers rotate-key {name}`", worker=name)
    if row.status != "active":  # fail closed on any status this code does not know
        raise WorkerKeyRefused("revoked", f"worker {name!r} is {row.status!r} in the registry, not active",
                               worker=name)
    if claims.key_id == row.key_id:
        return
    until = as_utc(row.previous_valid_until)
    if claims.key_id == row.previous_key_id and until is not None and until > now:
        return
    raise WorkerKeyRefused("revoked", f"this key of worker {name!r} was replaced by `rotate-key` and its grace "
                                      f"period is over; use the new key", worker=name)


def broker_accepts(settings: Settings, claims: WorkerClaims, queues: Iterable[str]) -> None:
    """Ask the broker itself: log in as the key's ACL user and touch each requested queue."""
    client = redis_client(settings.broker_url, settings.tls_ca, settings.tls_cert, settings.tls_key,
                          username=claims.username, password=settings.worker_key, socket_timeout=5,
                          socket_connect_timeout=5)
    try:
        for queue in queues:
            client.llen(queue)
    except redis.exceptions.AuthenticationError:
        raise WorkerKeyRefused("revoked", f"the broker does not accept the key of worker {claims.worker_id!r}: "
                                          f"its ACL user is gone (revoked, expired or replaced)",
                               worker=claims.worker_id) from None
    except redis.exceptions.NoPermissionError:
        raise WorkerKeyRefused("wrong-queue", f"the broker does not let worker {claims.worker_id!r} consume "
                                              f"{', '.join(queues)}", worker=claims.worker_id) from None
    except redis.exceptions.ConnectionError as e:
        raise ServiceError(f"the broker is not reachable ({type(e).__name__}); the worker cannot join") from None
    finally:
        client.close()


def admit(settings: Settings, queues: list[str], sessions: sessionmaker[Session]) -> WorkerClaims:
    """Every check, in order; the verified claims, or WorkerKeyRefused saying why not."""
    if not settings.worker_key:
        raise WorkerKeyRefused("missing", "no worker key: set CLOUDAI_WORKER_KEY (or CLOUDAI_WORKER_KEY_FILE) to "
                                          "the key printed by `cloudai workers enroll NAME --queues ...`")
    claims = verify(settings.worker_key, load_verify_keys(settings.home))
    check_queues(claims, queues)
    if settings.worker_id != claims.worker_id:
        raise ConfigError(f"CLOUDAI_WORKER_ID={settings.worker_id!r} but the worker key belongs to "
                          f"{claims.worker_id!r}; unset CLOUDAI_WORKER_ID", setting="CLOUDAI_WORKER_ID")
    with sessions() as session:
        key_standing(session, claims, utcnow())
    broker_accepts(settings, claims, queues)
    return claims


class WorkerKeyStep(bootsteps.StartStopStep):
    """Admit the worker before it connects; heartbeat while it runs."""

    label = "worker key"

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.claims: WorkerClaims | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        settings: Settings = worker.app.settings
        if check_url(settings.broker_url, "CLOUDAI_BROKER_URL") in IN_PROCESS_SCHEMES:
            return  # unit tests: no broker to enforce anything
        worker.options["without_gossip"] = True
        worker.options["without_mingle"] = True
        queues = sorted(worker.app.amqp.queues.consume_from)
        if settings.role == "admin" and queues == [CONTROL_QUEUE]:
            logger.info("control process: consuming %s as the admin ACL user", CONTROL_QUEUE)
            return
        if settings.role != "worker":
            _exit(f"a {settings.role} process may not consume jobs: run workers with CLOUDAI_ROLE=worker and a "
                  f"worker key (only the control process, role admin, consumes {CONTROL_QUEUE})")
        engine = make_engine(settings.database_url)
        # A pooled connection serves admission and every heartbeat (not a new one per beat). The prefork pool's
        # children inherit it at fork: they drop their copy unclosed, leaving the socket to this process.
        worker_process_init.connect(lambda **_: engine.dispose(close=False), weak=False)
        self.sessions = session_factory(engine)
        self.settings = settings
        try:
            self.claims = admit(settings, queues, self.sessions)
        except WorkerKeyRefused as e:
            self._record(e.worker, queues, worker.hostname, outcome="denied", reason=e.reason)
            _exit(str(e))
        except CloudAIError as e:
            _exit(f"worker cannot join: {e}")
        except SQLAlchemyError as e:
            _exit(f"worker cannot join: the registry (DATABASE_URL) cannot be read ({type(e).__name__})")
        self._record(self.claims.worker_id, queues, worker.hostname, outcome="ok", reason=None)
        logger.info("worker %s joined %s as ACL user %s (key %s, expires %s UTC)", self.claims.worker_id,
                    ", ".join(queues), self.claims.username, self.claims.key_id,
                    f"{self.claims.expires:%Y-%m-%d %H:%M}")

    def _record(self, name: str | None, queues: list[str], host: str, *, outcome: str, reason: str | None) -> None:
        """The join (or refusal) in the registry and the audit log; a refusal is recorded on a best-effort basis."""
        try:
            with self.sessions.begin() as session:
                if outcome == "ok":
                    now = utcnow()
                    session.execute(update(Worker).where(Worker.id == name, Worker.first_seen.is_(None))
                                    .values(first_seen=now))
                    session.execute(update(Worker).where(Worker.id == name).values(last_seen=now))
                audit.record(session, actor=f"worker:{name or '?'}", action="worker.join", outcome=outcome,
                             target=name, details={"queues": queues, "host": host, "reason": reason})
        except SQLAlchemyError as e:
            if outcome == "ok":
                _exit(f"worker cannot join: the registry (DATABASE_URL) refused the join record "
                      f"({type(e).__name__})")
            logger.error("could not audit the refusal (%s)", type(e).__name__)

    def start(self, worker) -> None:
        if self.claims is None:
            return
        self._thread = threading.Thread(target=self._heartbeat, args=(worker,), name="cloudai-heartbeat",
                                        daemon=True)
        self._thread.start()

    def stop(self, worker) -> None:
        self._stop.set()

    def _heartbeat(self, worker) -> None:
        while not self._stop.wait(self.settings.worker_heartbeat):
            try:
                with self.sessions.begin() as session:
                    session.execute(update(Worker).where(Worker.id == self.claims.worker_id)
                                    .values(last_seen=utcnow()))
                    key_standing(session, self.claims, utcnow())
                if utcnow() >= self.claims.expires:
                    raise WorkerKeyRefused("expired", f"the key of worker {self.claims.worker_id!r} expired",
                                           worker=self.claims.worker_id)
            except WorkerKeyRefused as e:
                logger.critical("%s; stopping now, running jobs included", e)
                worker.exitcode = EXIT_REFUSED  # Celery's cold shutdown keeps it as the exit status
                worker_state.should_terminate = EXIT_REFUSED
                return
            except SQLAlchemyError as e:
                logger.warning("heartbeat not recorded (%s); retrying", type(e).__name__)


def _exit(message: str) -> None:
    logger.critical(message)
    print(f"cloudai: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_REFUSED)
