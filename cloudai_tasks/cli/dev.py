"""``cloudai dev up|down|status``: the local stack for trying things out."""
from __future__ import annotations

import click

from .. import dev_stack
from ..settings import Settings


@click.group()
def dev() -> None:
    """Run the local stack (TLS Redis with ACLs, an enrolled worker, the control process) in the background."""


@dev.command()
def up() -> None:
    """Start the stack; already running services are left as they are."""
    for name, pid in dev_stack.up(Settings.from_env()).items():
        click.echo(f"{name}: running (pid {pid})")


@dev.command()
def down() -> None:
    """Stop exactly the processes `up` started."""
    stopped = dev_stack.down(Settings.from_env())
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@dev.command()
def status() -> None:
    """Show which services of the stack are running."""
    registry = dev_stack.ProcessRegistry(Settings.from_env())
    for name in dev_stack.STACK_ORDER:
        pid = registry.running(name)
        click.echo(f"{name}: {'running (pid %d)' % pid if pid else 'stopped'}")
