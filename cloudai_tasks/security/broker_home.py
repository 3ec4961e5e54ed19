"""The config home's share of worker keys and broker ACLs, created by `cloudai init`.

* ``keys/worker-signing.pem`` / ``.pub``: the control plane's Ed25519 key that signs worker keys;
* ``broker/{producer,monitor,admin}.secret``: each role's ACL password (a worker's password is its key);
* ``broker/users.acl``: the ACL file Redis loads at start and rewrites on every change (``ACL SAVE``).

Existing files are kept unless ``force``; the ACL file is rewritten only when a role password is new, since
it must carry that password's hash (workers enrolled since are re-added by ``BrokerAdmin.sync``).
"""
from __future__ import annotations

import secrets
from pathlib import Path

from ..settings import ROLES
from .broker_acl import broker_users, render_acl_file
from .private_files import make_private_dir, write_private
from .signing_key import PRIVATE_FILE, PUBLIC_FILE, create_signing_key
from .worker_keys import key_hash

ACL_FILE = Path("broker") / "users.acl"
SECRET_ROLES = tuple(r for r in ROLES if r != "worker")


def secret_file(home: Path, role: str) -> Path:
    return Path(home) / "broker" / f"{role}.secret"


def init_broker_files(home: Path, *, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Create what is missing (everything if ``force``); returns (created, kept)."""
    home = Path(home)
    created: list[Path] = []
    kept: list[Path] = []
    make_private_dir(home / "keys")
    make_private_dir(home / "broker")

    private, public = home / PRIVATE_FILE, home / PUBLIC_FILE
    if force or not private.exists():
        private_pem, public_pem = create_signing_key()
        write_private(private, private_pem, overwrite=True)
        write_private(public, public_pem, overwrite=True)
        created += [private, public]
    else:
        kept += [private, public]

    new_secret = False
    for role in SECRET_ROLES:
        path = secret_file(home, role)
        if write_private(path, f"{secrets.token_urlsafe(32)}\n".encode(), overwrite=force):
            created.append(path)
            new_secret = True
        else:
            kept.append(path)

    acl = home / ACL_FILE
    hashes = {role: key_hash(secret_file(home, role).read_text().strip()) for role in SECRET_ROLES}
    if write_private(acl, render_acl_file(broker_users(hashes, [])).encode(), overwrite=force or new_secret):
        created.append(acl)
    else:
        kept.append(acl)
    return created, kept
