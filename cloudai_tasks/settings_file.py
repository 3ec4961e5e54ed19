"""Edits of ``<home>/settings.toml`` made by commands (e.g. allow-listing a freshly built image)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from .security.private_files import write_private

_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")


def set_setting(home: Path, key: str, value: str) -> Path:
    """Set ``key = "value"`` in the settings file, replacing an earlier line for the same key."""
    if not _KEY.match(key):
        raise ValueError(f"{key!r} is not a settings key")
    path = Path(home) / "settings.toml"
    lines = path.read_text().splitlines() if path.exists() else []
    line = f"{key} = {json.dumps(value)}"  # a JSON string is a valid TOML basic string
    kept = [existing for existing in lines if existing.split("=", 1)[0].strip() != key]
    write_private(path, ("\n".join([*kept, line]) + "\n").encode(), overwrite=True)
    return path
