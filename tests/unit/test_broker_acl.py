"""Invariant 2 on paper: the ACL rules each principal gets, and the ACL file `cloudai init` writes."""
from __future__ import annotations

import fnmatch
import hashlib
import stat

import pytest

from cloudai_tasks.security.broker_acl import (CONTROL_QUEUE, PRIORITY_SEP, WorkerGrant, broker_users, monitor_rules,
                                               producer_rules, render_acl_file, worker_rules)
from cloudai_tasks.security.broker_home import ACL_FILE, secret_file
from cloudai_tasks.security.config_home import init_home
from cloudai_tasks.security.signing_key import PRIVATE_FILE, PUBLIC_FILE

HASH = "ab" * 32
GRANT = WorkerGrant("gpu-1", "0123456789abcdef", HASH, ("train", "infer"))


def _keys(rules) -> list[tuple[str, str]]:
    """(access, pattern) of every key rule outside selectors: access is R, W or RW."""
    out = []
    for r in rules:
        if r.startswith("~"):
            out.append(("RW", r[1:]))
        elif r.startswith(("%R~", "%W~", "%RW~")):
            access, pattern = r[1:].split("~", 1)
            out.append((access, pattern))
    return out


def _matches(rules, key: str, access: str) -> bool:
    return any(set(access) <= set(a) and fnmatch.fnmatchcase(key, p) for a, p in _keys(rules))


def test_default_user_is_off_without_password():
    line = render_acl_file(broker_users({"admin": HASH, "producer": HASH, "monitor": HASH}, [])).splitlines()[0]
    assert line == "user default off resetkeys resetchannels -@all"


@pytest.mark.parametrize("rules", [worker_rules(GRANT), producer_rules(HASH, ["train"]), monitor_rules(HASH)])
def test_no_role_but_admin_gets_everything(rules):
    assert "~*" not in rules and "&*" not in rules and "+@all" not in rules
    assert "-@all" in rules and "resetchannels" in rules
    for dangerous in ("+acl", "+config", "+keys", "+flushall", "+flushdb", "+scan", "+lrange", "+client"):
        assert not any(r == dangerous or r.startswith(dangerous + "|") for r in rules)


def test_a_worker_may_touch_only_its_own_queues_and_bookkeeping():
    rules = worker_rules(GRANT)
    for key in ("train", f"train{PRIORITY_SEP}3", "infer", "unacked:worker:gpu-1", "_kombu.binding.train"):
        assert _matches(rules, key, "RW"), key
    for key in ("training", f"train{PRIORITY_SEP}33", "other", "unacked", "unacked:worker:gpu-2",
                "unacked_index:cloudai-monitor", CONTROL_QUEUE, "_kombu.binding.other"):
        assert not _matches(rules, key, "R") and not _matches(rules, key, "W"), key


def test_a_worker_writes_results_and_replies_but_cannot_read_them():
    rules = worker_rules(GRANT)
    assert _matches(rules, "celery-task-meta-1234", "W") and not _matches(rules, "celery-task-meta-1234", "R")
    reply = "5a1f0c4e-93a0-3e65-a3e1-7c5bd7c9a1b2.reply.celery.pidbox"
    assert _matches(rules, reply, "W") and not _matches(rules, reply, "R")
    assert _matches(rules, "gpu-1@host.celery.pidbox", "RW")


def test_a_worker_publishes_events_and_result_notices_only_through_a_selector():
    rules = worker_rules(GRANT)
    assert "+publish" not in rules, "a root +publish would let it send control commands to every worker"
    assert rules[-1] == "(+publish &/0.celeryev/* &celery-task-meta-*)"
    assert "&/0.celery.pidbox" in rules and "+psubscribe" in rules


def test_the_producer_publishes_to_enrolled_queues_only_and_reads_results():
    rules = producer_rules(HASH, ["train", "infer", "train"])
    assert _matches(rules, "train", "W") and _matches(rules, f"infer{PRIORITY_SEP}9", "W")
    assert not _matches(rules, CONTROL_QUEUE, "W") and not _matches(rules, "unacked:worker:gpu-1", "R")
    assert _matches(rules, "celery-task-meta-1", "R") and not _matches(rules, "celery-task-meta-1", "W")
    assert "+brpop" not in rules and "+publish" not in rules


def test_the_monitor_inspects_but_cannot_push_jobs():
    rules = monitor_rules(HASH)
    assert "+lpush" not in rules and not _matches(rules, "train", "W")
    assert rules[-1] == "(+publish &/0.celery.pidbox)" and "&/0.celeryev/*" in rules


def test_every_valid_key_is_a_user_of_its_own():
    users = broker_users({"admin": HASH, "producer": HASH, "monitor": HASH},
                         [GRANT, WorkerGrant("gpu-1", "fedcba9876543210", "cd" * 32, GRANT.queues)])
    names = [u.name for u in users]
    assert names == ["default", "cloudai-admin", "cloudai-producer", "cloudai-monitor",
                     "worker:gpu-1:0123456789abcdef", "worker:gpu-1:fedcba9876543210"]


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_signing_key_role_secrets_and_acl_file_privately(tmp_path):
    home = init_home(tmp_path / "home").home
    for path in (home / PRIVATE_FILE, home / PUBLIC_FILE, home / ACL_FILE,
                 *(secret_file(home, r) for r in ("producer", "monitor", "admin"))):
        assert _mode(path) == 0o600, path
    acl = (home / ACL_FILE).read_text()
    for role in ("producer", "monitor", "admin"):
        secret = secret_file(home, role).read_text().strip()
        assert len(secret) >= 43 and secret not in acl
        assert f"user cloudai-{role} on #{hashlib.sha256(secret.encode()).hexdigest()} " in acl
    assert f"aclfile {home / ACL_FILE}\n" in (home / "redis.conf").read_text()
    assert not secret_file(home, "worker").exists(), "a worker's password is its key, never a shared secret"


def test_init_keeps_secrets_and_signing_key_unless_forced(tmp_path):
    home = init_home(tmp_path / "home").home
    before = {p: p.read_bytes() for p in (home / PRIVATE_FILE, home / ACL_FILE, secret_file(home, "admin"))}
    init_home(home)
    assert all(p.read_bytes() == b for p, b in before.items())
    init_home(home, force=True)
    assert all(p.read_bytes() != b for p, b in before.items())
