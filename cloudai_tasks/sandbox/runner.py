"""One job from spec to manifest: validate, lay out the job directory, run the container, collect, hand on.

Everything that can refuse a job (spec, limits, task id, allow-list) runs before any directory or container
exists. The job directory is removed whatever happens after it was made.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from ..settings import Settings
from .allow_list import AllowList, resolve_image
from .collect import collect_outputs
from .container import run_container
from .docker_api import connect
from .handoff import StoreOutputs
from .hardening import container_config
from .labels import job_labels
from .limits import parse_maxima
from .manifest import Manifest, StagedFile
from .owner import current_owner
from .spec import JobSpec, check_name, parse_spec
from .workspace import open_job_dir, remove_job_dir, worker_dirs

Progress = Callable[[str, dict[str, Any]], None]
#: How long past its wall time a job's container may exist before any reaper removes it unconditionally.
REAP_GRACE_SECONDS = 120


def run_sandboxed(raw_spec: object, *, settings: Settings, task_id: str, store: StoreOutputs,
                  progress: Progress | None = None, before_run: Callable[[JobSpec], None] | None = None) -> Manifest:
    """Run one job; ``JobRejected`` before anything ran, ``SandboxError`` if the sandbox itself failed.

    ``before_run`` sees the validated spec before any directory or container exists and may refuse it.
    """
    report = progress or (lambda phase, info: None)
    spec = parse_spec(raw_spec, parse_maxima(settings.sandbox_limits))
    if before_run is not None:
        before_run(spec)
    check_name(task_id, "task id", max_length=128)
    pinned = AllowList.parse(settings.sandbox_images).pin_for(spec.image)
    docker = connect(settings.docker_url)
    image_id = resolve_image(docker.api, pinned)
    dirs = worker_dirs(settings)
    limits = spec.limits

    job = open_job_dir(dirs, task_id, spec.inputs, limits)
    try:
        labels = job_labels(task_id=task_id, worker_id=settings.worker_id, owner=current_owner(),
                            deadline=time.time() + limits.wall_seconds + REAP_GRACE_SECONDS)
        config = container_config(docker.api, image_id=image_id, spec=spec, job=job, labels=labels)
        run = run_container(docker, config, wall_seconds=limits.wall_seconds, log_dir=job.staged,
                            log_cap=limits.log_bytes,
                            on_started=lambda at: report("RUNNING", {"started_at": at,
                                                                     "wall_seconds": limits.wall_seconds}))
        report("COLLECTING", {})
        (job.staged / "output").mkdir(mode=0o700)
        collection = collect_outputs(job.output, job.staged / "output", max_bytes=limits.output_bytes,
                                     max_files=limits.output_files)
        manifest = Manifest(
            task_id=task_id, worker_id=settings.worker_id, user_id=spec.user_id, project=spec.project,
            image=pinned.name, image_id=image_id, exit_code=run.exit_code, kill_reason=run.kill_reason,
            started_at=run.started_at, duration_seconds=run.duration, limits=limits.to_dict(),
            files=[{"path": f.path, "size": f.size, "sha256": f.sha256} for f in collection.files],
            logs={name: {"size": log.size, "sha256": log.sha256, "truncated": log.truncated}
                  for name, log in run.logs.items()},
            skipped=collection.skipped, skipped_count=collection.skipped_count, truncated=collection.truncated,
        )
        staged = [StagedFile(f"output/{f.path}", f.local, f.size, f.sha256) for f in collection.files]
        staged += [StagedFile(name, log.path, log.size, log.sha256) for name, log in run.logs.items()]
        manifest.stored = store(manifest, staged)
        return manifest
    finally:
        remove_job_dir(job)
