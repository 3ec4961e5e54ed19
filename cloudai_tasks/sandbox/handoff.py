"""Handing collected files on: the one call the encrypted storage plugs into.

``store_outputs(manifest, files)`` receives the manifest and the staged files (``output/<path>``, ``stdout``,
``stderr``) and returns a small JSON-able description of where they went, recorded in the manifest. The
staged copies are deleted with the job directory right after it returns, so a hook must move or consume
them. Until encrypted storage exists, ``keep_in_worker_dir`` keeps them in the worker's private directory.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from ..security.private_files import write_private
from .manifest import Manifest, StagedFile

StoreOutputs = Callable[[Manifest, list[StagedFile]], dict[str, Any]]


def keep_in_worker_dir(kept_root: Path, manifest: Manifest, files: list[StagedFile]) -> dict[str, Any]:
    """Move the files to ``<kept_root>/<task_id>/`` (0700, files 0600) with the manifest beside them."""
    target = kept_root / manifest.task_id
    if target.exists():
        shutil.rmtree(target)  # an earlier, redelivered attempt of the same task
    os.mkdir(target, 0o700)
    for staged in files:
        dest = target / staged.name
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.rename(staged.local, dest)
    stored = {"kind": "worker-dir", "path": str(target)}
    write_private(target / "manifest.json", json.dumps({**manifest.to_dict(), "stored": stored}, indent=2).encode())
    return stored
