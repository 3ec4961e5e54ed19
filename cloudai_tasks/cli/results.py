"""``cloudai results``: list and decrypt stored job results (control plane: needs the KEK)."""
from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import click

from ..settings import Settings


@click.group()
def results() -> None:
    """Stored results: list a user's files, decrypt one."""


@results.command("list")
@click.option("--user", "user_name", help="Only this user's files.")
@click.option("--task", "task_id", help="Only this task's files.")
def list_results(user_name: str | None, task_id: str | None) -> None:
    """File id, task, path, size and status of stored files."""
    from ..storage.db import index_sessions
    from ..storage.models import StoredFile, User

    with index_sessions(Settings.from_env().database_url)() as session:
        query = session.query(StoredFile, User.name).join(User, User.id == StoredFile.user_id)
        if user_name:
            query = query.filter(User.name == user_name)
        if task_id:
            query = query.filter(StoredFile.task_id == task_id)
        for row, owner in query.order_by(StoredFile.created_at):
            click.echo(f"{row.id}  {owner:12s} {row.task_id}  {row.path:32s} {row.size:>10d}  {row.status}")


@results.command()
@click.argument("file_id")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here (default: standard output).")
def get(file_id: str, output: Path | None) -> None:
    """Decrypt stored file FILE_ID; nothing is written anywhere unless the whole file authenticates."""
    from ..errors import StorageError
    from ..storage.db import index_sessions
    from ..storage.file_store import FileStore
    from ..storage.kek import load_keks
    from ..storage.models import StoredFile, User
    from ..storage.users import private_keys

    settings = Settings.from_env()
    store = FileStore(settings.storage_root)
    with index_sessions(settings.database_url)() as session:
        found = session.query(StoredFile, User.name).join(User, User.id == StoredFile.user_id) \
            .filter(StoredFile.id == file_id).first()
        if found is None:
            raise StorageError(f"no stored file {file_id!r}; see `cloudai results list`")
        row, owner = found
        keys = private_keys(session, owner, load_keks(settings))
        if output is not None:
            size = store.decrypt_to_path(row.stored_path, output, keys, file_id=uuid.UUID(row.id))
            click.echo(f"{output}: {size} bytes", err=True)
            return
        # Standard output cannot be taken back: decrypt fully into a private temporary file first, so a damaged
        # or truncated file prints nothing at all rather than an authenticated prefix.
        with tempfile.TemporaryDirectory(prefix="cloudai-get-") as tmp:
            spool = Path(tmp) / "plain"
            store.decrypt_to_path(row.stored_path, spool, keys, file_id=uuid.UUID(row.id))
            with spool.open("rb") as fh:
                shutil.copyfileobj(fh, sys.stdout.buffer, 1 << 20)
