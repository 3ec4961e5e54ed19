"""Labels that mark a container as a CloudAI job: how the reaper finds leftovers and whose they are."""
from __future__ import annotations

MARK = "cloudai.sandbox"
TASK_ID = "cloudai.task_id"
WORKER_ID = "cloudai.worker_id"
OWNER = "cloudai.owner"
#: Unix time after which the container has no business existing: its worker kills it at the deadline.
DEADLINE = "cloudai.deadline"


def job_labels(*, task_id: str, worker_id: str, owner: str, deadline: float) -> dict[str, str]:
    return {MARK: "1", TASK_ID: task_id, WORKER_ID: worker_id, OWNER: owner, DEADLINE: str(int(deadline) + 1)}
