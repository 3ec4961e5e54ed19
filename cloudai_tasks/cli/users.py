"""``cloudai users`` and ``cloudai keys``: people, their key pairs, and the master KEK."""
from __future__ import annotations

import click

from ..settings import Settings


def _sessions(settings: Settings):
    from ..storage.db import index_sessions

    return index_sessions(settings.database_url)


@click.group()
def users() -> None:
    """Users: each has a key pair; their results are encrypted to it."""


@users.command()
@click.argument("name")
@click.option("--role", type=click.Choice(["user", "admin"]), default="user", show_default=True)
@click.option("--kem", type=click.Choice(["x25519", "mlkem768-x25519"]), default="x25519", show_default=True,
              help="Key encapsulation: X25519, or the post-quantum hybrid.")
def create(name: str, role: str, kem: str) -> None:
    """Create a user with a key pair; prints their API key once (last line)."""
    from ..storage.kek import load_keks
    from ..storage.users import create_user

    settings = Settings.from_env()
    with _sessions(settings).begin() as session:
        created = create_user(session, name, load_keks(settings), role=role, kem=kem)
    click.echo(f"user {name} ({role}, {kem}) created; API key (shown once):", err=True)
    click.echo(created.api_key)


@users.command("list")
def list_users() -> None:
    """Users with their role, status and current key version."""
    from ..storage.models import User

    with _sessions(Settings.from_env())() as session:
        for user in session.query(User).order_by(User.name):
            versions = [k.version for k in user.keys if k.status == "current"]
            click.echo(f"{user.name:24s} {user.role:6s} {user.status:8s} key v{versions[0] if versions else '-'}")


@users.command("rotate-key")
@click.argument("name")
def rotate_key(name: str) -> None:
    """Give NAME a new key pair for new files; old files stay readable."""
    from ..storage.kek import load_keks
    from ..storage.users import rotate_user_key

    settings = Settings.from_env()
    with _sessions(settings).begin() as session:
        version = rotate_user_key(session, name, load_keks(settings))
    click.echo(f"user {name}: new files use key v{version}")


@users.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm: the user's files become unrecoverable.")
def delete(name: str, yes: bool) -> None:
    """Delete NAME by destroying their private keys (crypto-shredding)."""
    from ..storage.users import delete_user

    if not yes:
        raise click.UsageError("deleting a user makes all their files unrecoverable; add --yes to confirm")
    with _sessions(Settings.from_env()).begin() as session:
        files = delete_user(session, name)
    click.echo(f"user {name} deleted: keys destroyed, {files} file(s) now unrecoverable")


@click.group()
def keys() -> None:
    """The master key-encryption key (KEK) that wraps every private key."""


@keys.command("rotate-kek")
def rotate_kek() -> None:
    """Re-wrap every private key under a new KEK; no file is re-encrypted."""
    from ..storage.kek import add_kek, load_keks, retire_kek, set_current_kek
    from ..storage.users import rotate_kek as do_rotate

    settings = Settings.from_env()
    if settings.kek:
        raise click.UsageError("CLOUDAI_KEK is set: rotate by adding the new key first in that variable, "
                               "or unset it to use the config home's KEK files")
    old = load_keks(settings)
    new = add_kek(settings.home)
    with _sessions(settings).begin() as session:
        count = do_rotate(session, old, new)
    set_current_kek(settings.home, new.id)
    for kek_id in old.by_id:
        retire_kek(settings.home, kek_id)
    click.echo(f"KEK {new.id} is current; {count} private key(s) re-wrapped; retired {', '.join(old.by_id)}")
