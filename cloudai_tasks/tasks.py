"""The Celery tasks. Thin: validate, then hand over to sandbox, storage and security."""
from __future__ import annotations

from typing import Any

from .celery import app
from .errors import CloudAIError
from .sandbox import Manifest, SandboxReaper, StagedFile, keep_in_worker_dir, run_sandboxed
from .sandbox.workspace import worker_dirs


@app.task(name="cloudai.ping", acks_late=False)
def ping(value: int = 0) -> int:
    """A no-op round trip: used by health checks, the quickstart and the throughput benchmark."""
    return value


@app.task(name="cloudai.run_job", bind=True, throws=(CloudAIError,))
def run_job(self, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a hardened container; the result is its manifest, never its output.

    A refused spec raises ``JobRejected`` before anything runs: the task fails with the reason and the
    worker carries on. Progress (RUNNING, COLLECTING) is published as task states for `cloudai submit --wait`.
    """
    manifest = run_sandboxed(spec, settings=self.app.settings, task_id=self.request.id, store=store_outputs,
                             progress=lambda state, meta: self.update_state(state=state, meta=meta))
    return manifest.to_dict()


def store_outputs(manifest: Manifest, files: list[StagedFile]) -> dict[str, Any]:
    """Where collected files go. Until encrypted storage lands they stay in the worker's private directory."""
    return keep_in_worker_dir(worker_dirs(app.settings).kept, manifest, files)


app.steps["worker"].add(SandboxReaper)
