"""Handing collected files on: the one call the encrypted storage plugs into.

``store(manifest, files)`` receives the manifest and the staged files (``output/<path>``, ``stdout``,
``stderr``, each with the size and sha256 computed while collecting) and returns a small JSON-able description
of where they went, recorded in the manifest. The staged copies are deleted with the job directory right
after it returns, so a hook must consume them; ``cloudai_tasks.tasks.store_outputs`` encrypts them for the owner.
"""
from __future__ import annotations

from typing import Any, Callable

from .manifest import Manifest, StagedFile

StoreOutputs = Callable[[Manifest, list[StagedFile]], dict[str, Any]]
