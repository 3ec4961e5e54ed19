"""``cloudai submit``: run a command as a job on a worker, optionally waiting with live progress."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..settings import Settings

POLL_SECONDS = 0.25
PHASES = {
    "PENDING": "queued, waiting for a worker",
    "RECEIVED": "received by a worker",
    "STARTED": "started on a worker",
    "COLLECTING": "collecting output",
}


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE", param_hint=option)
        pairs[name] = rest
    return pairs


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise click.BadParameter(f"{text!r} is not a number", param_hint="--limit") from None


def _inputs(values: tuple[str, ...]) -> dict[str, Any]:
    from ..sandbox.spec import MAX_INPUT_BYTES, encode_input

    files = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or Path(value).is_file():  # a bare path, even one with '=' in it, keeps its own name
            name, path = Path(value).name, value
        file = Path(path)
        if not file.is_file():
            raise click.BadParameter(f"{path} is not a file", param_hint="--input")
        if file.stat().st_size > MAX_INPUT_BYTES:
            raise click.BadParameter(f"{path} is larger than {MAX_INPUT_BYTES} bytes", param_hint="--input")
        files[name] = encode_input(file.read_bytes())
    return files


def _describe(state: str, info: Any, elapsed: float) -> str:
    if state == "RUNNING" and isinstance(info, dict):
        return f"running {max(time.time() - float(info.get('started_at', time.time())), 0):.1f} s " \
               f"(limit {info.get('wall_seconds')} s)"
    return f"{PHASES.get(state, state.lower())} ({elapsed:.1f} s)"


def _wait(result: Any, timeout: float) -> dict[str, Any]:
    tty = sys.stderr.isatty()
    start, shown = time.monotonic(), None
    while True:
        state = result.state
        elapsed = time.monotonic() - start
        if state in ("SUCCESS", "FAILURE", "REVOKED"):
            break
        line = _describe(state, result.info, elapsed)
        if tty:
            click.echo("\r" + line.ljust(60), nl=False, err=True)
        elif state != shown:
            click.echo(line, err=True)
        shown = state
        if elapsed > timeout:
            raise click.ClickException(f"task {result.id} has not finished after {timeout:.0f} s; it keeps "
                                       f"running on the worker")
        time.sleep(POLL_SECONDS)
    if tty:
        click.echo("\r" + " " * 60 + "\r", nl=False, err=True)
    return result.get(timeout=10)


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("--user", "user_id", required=True, help="Whose job this is.")
@click.option("--project", required=True, help="Project the job belongs to.")
@click.option("--image", default="python", show_default=True, help="An allow-listed image name.")
@click.option("--input", "inputs", multiple=True, metavar="[NAME=]FILE", help="File placed read-only in /input.")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Environment variable (no secrets).")
@click.option("--limit", "limits", multiple=True, metavar="NAME=VALUE", help="e.g. wall_seconds=30, memory_mb=512.")
@click.option("--wait", is_flag=True, help="Show progress until the job ends, then print its manifest.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait (default: wall time + 120).")
@click.argument("command", nargs=-1, required=True)
def submit(user_id: str, project: str, image: str, inputs: tuple[str, ...], env: tuple[str, ...],
           limits: tuple[str, ...], wait: bool, timeout: float | None, command: tuple[str, ...]) -> None:
    """Run COMMAND (given after --) in a sandboxed container on a worker."""
    from ..sandbox.limits import parse_maxima
    from ..sandbox.spec import parse_spec

    spec: dict[str, Any] = {"user_id": user_id, "project": project, "image": image, "command": list(command)}
    if inputs:
        spec["inputs"] = _inputs(inputs)
    if env:
        spec["env"] = _pairs(env, "--env")
    if limits:
        spec["limits"] = {k: _number(v) for k, v in _pairs(limits, "--limit").items()}
    checked = parse_spec(spec, parse_maxima(Settings.from_env().sandbox_limits))

    from ..tasks import run_job

    result = run_job.delay(spec)
    click.echo(f"submitted task {result.id}", err=True)
    if not wait:
        click.echo(result.id)
        return
    manifest = _wait(result, timeout if timeout is not None else checked.limits.wall_seconds + 120)
    click.echo(json.dumps(manifest, indent=2))
    if manifest.get("exit_code") != 0 or manifest.get("killed"):
        sys.exit(1)

