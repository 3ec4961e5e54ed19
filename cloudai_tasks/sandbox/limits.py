"""Resource limits of one job: safe defaults, hard maxima from the settings, and what a spec may ask for.

A job asks for limits by name; anything it leaves out gets the default, clamped to the node's maximum, so an
operator who lowers a maximum never has to touch the defaults. Memory covers everything the job touches in
RAM, including what it writes to ``/tmp`` and ``/output`` (both are memory-backed and charged to the job).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

from ..errors import ConfigError, JobRejected

NAME_SHOWN = 70  # characters of a refused name quoted back; refusals reach the result backend and logs


def shown_names(names: list[str], most: int = 5) -> str:
    """Refused names as quoted in an error: a few, each cut short, so a hostile spec cannot flood a message."""
    return ", ".join(repr(n[:NAME_SHOWN]) for n in names[:most]) + (", ..." if len(names) > most else "")

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    wall_seconds: int = 60
    memory_mb: int = 256
    cpus: float = 1.0
    pids: int = 64
    output_bytes: int = 64 * MIB
    output_files: int = 1000
    log_bytes: int = 1 * MIB
    tmp_mb: int = 64

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f.type for f in dataclasses.fields(Limits)}

#: The smallest values that still let a trivial job start; below these a job would fail for no useful reason.
MINIMA = Limits(wall_seconds=1, memory_mb=16, cpus=0.01, pids=4, output_bytes=0, output_files=0, log_bytes=0,
                tmp_mb=1)

#: Built-in maxima; ``CLOUDAI_SANDBOX_LIMITS`` may lower or raise them per node.
DEFAULT_MAXIMA = Limits(wall_seconds=3600, memory_mb=4096, cpus=float(os.cpu_count() or 1), pids=1024,
                        output_bytes=1024 * MIB, output_files=10_000, log_bytes=64 * MIB, tmp_mb=1024)


def _number(name: str, value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if FIELDS[name] == "int":
        if isinstance(value, float) and not value.is_integer():
            raise TypeError(f"{name} must be a whole number")
        return int(value)
    return float(value)


def parse_maxima(text: str) -> Limits:
    """The node's hard maxima from ``KEY=VALUE[,KEY=VALUE...]`` (the CLOUDAI_SANDBOX_LIMITS setting)."""
    values: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in FIELDS:
            raise ConfigError(f"CLOUDAI_SANDBOX_LIMITS entry {item!r} is not KEY=VALUE with KEY one of "
                              f"{', '.join(FIELDS)}", setting="CLOUDAI_SANDBOX_LIMITS")
        try:
            number = float(raw) if FIELDS[key] == "float" else int(raw)
        except ValueError:
            raise ConfigError(f"CLOUDAI_SANDBOX_LIMITS: {key}={raw!r} is not a number",
                              setting="CLOUDAI_SANDBOX_LIMITS") from None
        if number < getattr(MINIMA, key):
            raise ConfigError(f"CLOUDAI_SANDBOX_LIMITS: {key}={raw} is below the minimum {getattr(MINIMA, key)}",
                              setting="CLOUDAI_SANDBOX_LIMITS")
        values[key] = number
    return dataclasses.replace(DEFAULT_MAXIMA, **values)


def defaults_within(maxima: Limits) -> Limits:
    defaults = Limits()
    return Limits(**{name: min(getattr(defaults, name), getattr(maxima, name)) for name in FIELDS})


def resolve_limits(requested: object, maxima: Limits) -> Limits:
    """The limits a job runs with: its requests checked against ``maxima``, the rest defaults.

    Asking for more than the maximum is refused, not silently lowered: a job that needs more than the node
    allows should hear so before it runs, not fail mysteriously half-way.
    """
    if requested is None:
        requested = {}
    if not isinstance(requested, Mapping):
        raise JobRejected("limits must be an object of NAME: number", field="limits")
    unknown = sorted(set(map(str, requested)) - set(FIELDS))
    if unknown:
        raise JobRejected(f"unknown limit(s) {shown_names(unknown)}; known limits are "
                          f"{', '.join(FIELDS)}", field="limits")
    values = defaults_within(maxima).to_dict()
    for name, value in requested.items():
        try:
            number = _number(name, value)
        except TypeError as e:
            raise JobRejected(f"limits.{e}", field=f"limits.{name}") from None
        low, high = getattr(MINIMA, name), getattr(maxima, name)
        if not low <= number <= high:
            raise JobRejected(f"limits.{name}={number} is outside {low}..{high} allowed on this node; "
                              f"ask for at most {high}", field=f"limits.{name}")
        values[name] = number
    return Limits(**values)
