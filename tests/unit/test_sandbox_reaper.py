"""Which containers the reaper removes: only leftovers, never a live worker's running job."""
from __future__ import annotations

import os
import subprocess
import sys

import docker.errors

from cloudai_tasks.sandbox import labels
from cloudai_tasks.procinfo import start_time
from cloudai_tasks.sandbox.owner import current_owner, namespace_key, owner_alive
from cloudai_tasks.sandbox.reaper import leftover_reason, reap_containers

NOW = 1_000_000.0


def dead_owner() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = f"{namespace_key()}/{proc.pid}/{start_time(proc.pid)}"
    proc.wait()
    return token


def test_owner_liveness_is_judged_only_in_our_pid_namespace():
    assert owner_alive(current_owner()) is True
    assert owner_alive(dead_owner()) is False
    assert owner_alive(f"{namespace_key()}/{os.getpid()}/0") is False, "a recycled pid is not the owner"
    assert owner_alive("another-host.123/1/1") is None
    assert owner_alive("garbage") is None


def test_leftover_rules():
    future = str(int(NOW) + 60)
    assert leftover_reason({labels.OWNER: current_owner(), labels.DEADLINE: future}, NOW) is None
    assert leftover_reason({labels.OWNER: "elsewhere.1/1/1", labels.DEADLINE: future}, NOW) is None
    assert leftover_reason({labels.OWNER: dead_owner(), labels.DEADLINE: future}, NOW) == "its worker process is gone"
    assert leftover_reason({labels.OWNER: "elsewhere.1/1/1", labels.DEADLINE: str(int(NOW) - 1)}, NOW) \
        == "past its deadline"
    assert leftover_reason({labels.OWNER: current_owner(), labels.DEADLINE: "soon"}, NOW) == "past its deadline"


class FakeDocker:
    def __init__(self, containers):
        self.listed, self.removed, self.filters = containers, [], None

    def containers(self, all, filters):
        self.filters = (all, filters)
        return self.listed

    def remove_container(self, container_id, force):
        assert force is True
        if container_id == "gone":
            raise docker.errors.NotFound("already removed")
        self.removed.append(container_id)


def test_reap_removes_only_leftovers_and_finds_ours_by_label():
    future = str(int(NOW) + 60)
    api = FakeDocker([
        {"Id": "live", "Labels": {labels.OWNER: current_owner(), labels.DEADLINE: future, labels.TASK_ID: "t1"}},
        {"Id": "orphan", "Labels": {labels.OWNER: dead_owner(), labels.DEADLINE: future, labels.TASK_ID: "t2"}},
        {"Id": "late", "Labels": {labels.OWNER: "x.1/1/1", labels.DEADLINE: "10", labels.TASK_ID: "t3"}},
        {"Id": "gone", "Labels": {labels.OWNER: dead_owner(), labels.DEADLINE: future}},
    ])
    reaped = reap_containers(api, now=NOW)
    assert api.filters == (True, {"label": "cloudai.sandbox=1"})
    assert api.removed == ["orphan", "late"]
    assert [(r.task_id, r.why) for r in reaped] == [("t2", "its worker process is gone"), ("t3", "past its deadline")]
