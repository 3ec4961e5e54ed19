"""Least-privilege Redis ACL users for every principal, as rules for ``ACL SETUSER`` and lines of the ACL file.

The rules list what kombu 5.7 and Celery 5.7 really send (found with ``ACL LOG`` and ``MONITOR`` on Redis 7.0),
under settings that keep them narrow (see ``celery_config``): gossip and mingle off, pidbox and event queues
without expiry (so no binding-expiry scripts on shared keys), write-only result storage for workers, and
unacknowledged-message bookkeeping under keys of each principal's own (``unacked_keys``).

* a worker: pop from its queues, keep its own unacked bookkeeping, listen for remote control, reply to it,
  write (not read) results, publish events and result notices (a selector, so it cannot publish control
  commands to other workers);
* the producer: push to the queues that enrolled workers consume, read results and their notices;
* the monitor: broadcast inspect requests and read the replies, listen to events; it cannot push jobs;
* the admin (control plane): everything; ``default``: off.

Redis 7 defaults ``acl-pubsub-default`` to ``resetchannels``, so every channel is named here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from .worker_keys import acl_username

#: kombu's separator between a queue name and its priority (``q\x06\x163`` holds priority-3 messages).
PRIORITY_SEP = "\x06\x16"
CONTROL_QUEUE = "cloudai.control"
PIDBOX_CHANNEL = "/0.celery.pidbox"
EVENT_CHANNELS = "/0.celeryev/*"
RESULT_KEYS = "celery-task-meta-*"
ROLE_USERS = {"producer": "cloudai-producer", "monitor": "cloudai-monitor", "admin": "cloudai-admin"}

_CONNECTION = ("+ping", "+hello", "+auth", "+quit")
_TRANSACTIONS = ("+multi", "+exec", "+discard", "+watch", "+unwatch")
#: kombu's unacked bookkeeping and its mutex (redis-py's lock releases through a script).
_UNACKED = ("+hset", "+hget", "+hdel", "+zadd", "+zrem", "+zrange", "+set", "+get", "+del",
            "+evalsha", "+eval", "+script|load", "+script|exists")


@dataclass(frozen=True)
class BrokerUser:
    name: str
    rules: tuple[str, ...]


@dataclass(frozen=True)
class WorkerGrant:
    """One valid worker key as the broker must know it: the key's ACL user may consume exactly ``queues``."""

    worker_id: str
    key_id: str
    key_hash: str
    queues: tuple[str, ...]


def unacked_keys(principal: str) -> dict[str, str]:
    """kombu transport options that keep a principal's in-flight bookkeeping apart from everyone else's."""
    return {"unacked_key": f"unacked:{principal}", "unacked_index_key": f"unacked_index:{principal}",
            "unacked_mutex_key": f"unacked_mutex:{principal}"}


def worker_principal(worker_id: str) -> str:
    return f"worker:{worker_id}"


def queue_keys(queue: str) -> tuple[str, ...]:
    return (queue, f"{queue}{PRIORITY_SEP}?")


def _base(password_hash: str) -> tuple[str, ...]:
    return ("reset", "on", f"#{password_hash}", "resetkeys", "resetchannels", "-@all", *_CONNECTION)


def _queue_patterns(queues: Iterable[str]) -> list[str]:
    return [f"~{key}" for q in queues
            for key in (*queue_keys(q), f"_kombu.binding.{q}", f"_kombu.binding_permanent.{q}")]


def worker_rules(grant: WorkerGrant) -> tuple[str, ...]:
    own = unacked_keys(worker_principal(grant.worker_id)).values()
    return (
        *_base(grant.key_hash),
        "+brpop", "+llen", "+lpush", "+rpush", "+setex", "+sadd", "+srem", "+smembers", "+psubscribe",
        "+punsubscribe", *_TRANSACTIONS, *_UNACKED,
        *_queue_patterns(grant.queues),
        *(f"~{k}" for k in own),
        "~_kombu.binding.celery.pidbox", "~_kombu.binding_permanent.celery.pidbox",
        # Its own pidbox queue: node names always hold '@', reply queues (``<uuid>.reply.celery.pidbox``) never,
        # so it may only push replies to those, not pop them.
        "~*@*.celery.pidbox", f"~*@*.celery.pidbox{PRIORITY_SEP}?",
        "%R~_kombu.binding.reply.celery.pidbox", "%W~*.reply.celery.pidbox",
        f"%W~{RESULT_KEYS}",
        f"&{PIDBOX_CHANNEL}",
        f"(+publish &{EVENT_CHANNELS} &{RESULT_KEYS})",
    )


def producer_key_rules(queues: Iterable[str]) -> tuple[str, ...]:
    """The producer's keys: the queues enrolled workers consume (so never the control queue), and results."""
    return ("resetkeys", *_queue_patterns(sorted(set(queues))), f"%R~{RESULT_KEYS}")


def producer_rules(password_hash: str, queues: Iterable[str]) -> tuple[str, ...]:
    return (
        *_base(password_hash),
        "+lpush", "+llen", "+sadd", "+get", "+mget", "+subscribe", "+unsubscribe", *_TRANSACTIONS,
        *producer_key_rules(queues),
        f"&{RESULT_KEYS}",
    )


def monitor_rules(password_hash: str) -> tuple[str, ...]:
    own = unacked_keys(ROLE_USERS["monitor"]).values()
    return (
        *_base(password_hash),
        "+brpop", "+llen", "+rpush", "+sadd", "+srem", "+smembers", "+psubscribe", "+punsubscribe",
        *_TRANSACTIONS, *_UNACKED,
        "~*.reply.celery.pidbox", f"~*.reply.celery.pidbox{PRIORITY_SEP}?",
        "~_kombu.binding.reply.celery.pidbox", "~_kombu.binding_permanent.reply.celery.pidbox",
        "~celeryev.*", "~_kombu.binding.celeryev", "~_kombu.binding_permanent.celeryev",
        *(f"~{k}" for k in own),
        f"&{EVENT_CHANNELS}",
        f"(+publish &{PIDBOX_CHANNEL})",
    )


def admin_rules(password_hash: str) -> tuple[str, ...]:
    return ("reset", "on", f"#{password_hash}", "~*", "&*", "+@all")


DEFAULT_USER = BrokerUser("default", ("reset", "off", "resetkeys", "resetchannels", "-@all"))


def broker_users(role_hashes: Mapping[str, str], grants: Sequence[WorkerGrant]) -> list[BrokerUser]:
    """Every ACL user the broker should have, given the roles' password hashes and the valid worker keys."""
    queues = {q for g in grants for q in g.queues}
    users = [
        DEFAULT_USER,
        BrokerUser(ROLE_USERS["admin"], admin_rules(role_hashes["admin"])),
        BrokerUser(ROLE_USERS["producer"], producer_rules(role_hashes["producer"], queues)),
        BrokerUser(ROLE_USERS["monitor"], monitor_rules(role_hashes["monitor"])),
    ]
    users += [BrokerUser(acl_username(g.worker_id, g.key_id), worker_rules(g)) for g in grants]
    return users


def render_acl_file(users: Iterable[BrokerUser]) -> str:
    """The ACL file Redis loads at start; ``reset`` is dropped because each line defines its user afresh."""
    lines = [" ".join(("user", u.name, *(r for r in u.rules if r != "reset"))) for u in users]
    return "\n".join(lines) + "\n"
