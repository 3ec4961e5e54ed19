"""``cloudai``: set up a config home, run the local stack, talk to the queue."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import CloudAIError
from ..settings import default_home


class CloudAIGroup(click.Group):
    """Turns our own errors into one clear line and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CloudAIError as e:
            raise click.ClickException(str(e)) from e


@click.group(cls=CloudAIGroup)
def main() -> None:
    """CloudAI Tasks: a Celery task queue with hardened workers."""


@main.command()
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Config home (default $CLOUDAI_HOME, else ~/.cloudai).")
@click.option("--host", "hosts", multiple=True, help="Extra host name or IP for the Redis server certificate.")
@click.option("--redis-port", type=click.IntRange(1, 65535), default=6380, show_default=True)
@click.option("--force", is_flag=True, help="Replace existing keys and certificates.")
def init(home: Path | None, hosts: tuple[str, ...], redis_port: int, force: bool) -> None:
    """Create a private config home: CA, TLS certificates, Redis config, settings."""
    from ..security.config_home import init_home
    from ..storage.kek import ensure_kek

    report = init_home(home or default_home(), hosts=hosts, force=force, redis_port=redis_port)
    ensure_kek(report.home)
    click.echo(f"config home: {report.home}")
    click.echo(f"created {len(report.created)} file(s), kept {len(report.kept)}")
    if report.kept and not force:
        click.echo("existing keys were kept; use --force to replace them")


@main.command()
@click.argument("value", type=int, default=42)
@click.option("--timeout", type=float, default=30.0, show_default=True)
def ping(value: int, timeout: float) -> None:
    """Send one task through the broker to a worker and print its result."""
    from ..tasks import ping as ping_task

    result = ping_task.delay(value)
    click.echo(f"task {result.id} -> {result.get(timeout=timeout)}")


# Each command group lives in its own module; registered here, in the order `cloudai --help` lists them.
from .db import audit, db  # noqa: E402
from .dev import dev  # noqa: E402
from .results import results  # noqa: E402
from .sandbox import sandbox  # noqa: E402
from .submit import submit  # noqa: E402
from .users import keys, users  # noqa: E402
from .workers import workers  # noqa: E402

for _command in (dev, db, users, keys, workers, sandbox, submit, results, audit):
    main.add_command(_command)
