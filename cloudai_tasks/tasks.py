"""The Celery tasks. Thin: validate, then hand over to sandbox, storage and security."""
from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from .celery import app
from .errors import CloudAIError
from .sandbox import Manifest, SandboxReaper, StagedFile, run_sandboxed
from .storage.results import JobRecord, Output, ResultStore
from .submission import submitted_at


@app.task(name="cloudai.ping", acks_late=False)
def ping(value: int = 0) -> int:
    """A no-op round trip: used by health checks, the quickstart and the throughput benchmark."""
    return value


@app.task(name="cloudai.run_job", bind=True, throws=(CloudAIError,))
def run_job(self, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a hardened container; the result is its manifest, never its output.

    A refused spec raises ``JobRejected`` before anything runs: the task fails with the reason and the
    worker carries on. Progress (RUNNING, COLLECTING) is published as task states for `cloudai submit --wait`.
    What the job wrote is encrypted for its owner and indexed before the manifest is returned.
    """
    when = submitted_at(self.request, fallback=dt.datetime.now(dt.timezone.utc))
    manifest = run_sandboxed(spec, settings=self.app.settings, task_id=self.request.id,
                             store=functools.partial(store_outputs, submitted=when),
                             before_run=lambda valid: result_store().check_owner(valid.user_id),
                             progress=lambda state, meta: self.update_state(state=state, meta=meta))
    return manifest.to_dict()


@functools.cache
def result_store() -> ResultStore:
    """One per worker process, created on first use (after the pool forked, so no connection is shared)."""
    from .storage.db import index_sessions
    from .storage.file_store import FileStore

    settings = app.settings
    return ResultStore(index_sessions(settings.database_url), FileStore(settings.storage_root))


def store_outputs(manifest: Manifest, files: list[StagedFile], *, submitted: dt.datetime) -> dict[str, Any]:
    """Encrypt every collected file (outputs, stdout, stderr) for the job's owner; the plaintext is then removed."""
    started = dt.datetime.fromtimestamp(manifest.started_at, dt.timezone.utc)
    status = "killed" if manifest.killed else ("succeeded" if manifest.exit_code == 0 else "failed")
    record = JobRecord(
        task_id=manifest.task_id, user=manifest.user_id, project=manifest.project, image=manifest.image,
        submitted_at=submitted, status=status, worker=manifest.worker_id, exit_code=manifest.exit_code,
        killed_reason=manifest.kill_reason, started_at=started,
        finished_at=started + dt.timedelta(seconds=manifest.duration_seconds), manifest=manifest.to_dict(),
    )
    stored = result_store().store(record, [Output(f.name, Path(f.local), f.sha256) for f in files])
    return {"kind": "encrypted", "submitted_at": submitted.isoformat(), "files": stored}


app.steps["worker"].add(SandboxReaper)
