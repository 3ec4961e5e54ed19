"""``cloudai db`` and ``cloudai audit``: the index database's schema, roles and audit chain."""
from __future__ import annotations

import click

from ..settings import Settings


@click.group()
def db() -> None:
    """The index database (DATABASE_URL; SQLite in the config home by default)."""


@db.command()
def upgrade() -> None:
    """Apply every pending migration."""
    from ..storage.db import make_engine
    from ..storage.migrate import current, upgrade as do_upgrade

    engine = make_engine(Settings.from_env().database_url)
    do_upgrade(engine)
    click.echo(f"index database at revision {current(engine)}")


@db.command("grant-worker")
@click.option("--role", default="cloudai_worker", show_default=True)
def grant_worker(role: str) -> None:
    """Create or reset the workers' least-privilege PostgreSQL role; prints its password once (last line)."""
    from ..storage.db import make_engine
    from ..storage.db_roles import grant_worker_role

    password = grant_worker_role(make_engine(Settings.from_env().database_url), role)
    click.echo(f"role {role}: insert tasks/files/audit, read public keys; give workers this password:", err=True)
    click.echo(password)


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command()
def verify() -> None:
    """Check the whole hash chain; exits 1 and names the first bad event if it was altered."""
    from ..security.audit import verify as verify_chain
    from ..storage.db import index_sessions

    with index_sessions(Settings.from_env().database_url)() as session:
        report = verify_chain(session)
    if not report.intact:
        raise click.ClickException(f"audit chain broken at event {report.first_bad_id}: {report.reason}")
    click.echo(f"audit chain intact: {report.events} events")
