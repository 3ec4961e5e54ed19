"""The worker's PostgreSQL role: it may insert tasks, files and audit events and read public keys; nothing else.

A worker taken over can therefore write results for users but cannot read wrapped private keys, other users'
file rows, or rewrite history. Column lists must match storage/models.py.
"""
from __future__ import annotations

import re
import secrets

from sqlalchemy import Engine, text

from ..errors import ConfigError

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

WORKER_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT (id, name, status) ON users TO {role}",
    "GRANT SELECT (id, user_id, version, kem, public_key, status) ON user_keys TO {role}",
    "GRANT INSERT ON tasks, files, audit_events TO {role}",
    "GRANT SELECT (id, hash) ON audit_events TO {role}",  # to link the next event to the chain
    "GRANT USAGE ON SEQUENCE audit_events_id_seq TO {role}",
    # To check its own key's standing at start-up and heartbeat; key hashes stay unreadable.
    "GRANT SELECT (id, queues, key_id, previous_key_id, previous_valid_until, status, issued_at, expires_at, "
    "first_seen, last_seen), UPDATE (first_seen, last_seen) ON workers TO {role}",
)


def grant_worker_role(engine: Engine, role: str = "cloudai_worker", password: str | None = None) -> str:
    """Create (or reset) the worker role with least privileges; returns its password (shown once)."""
    if engine.dialect.name != "postgresql":
        raise ConfigError("database roles need PostgreSQL; SQLite has no users (set DATABASE_URL to postgresql://)",
                          setting="DATABASE_URL")
    if not _ROLE_NAME.match(role):
        raise ConfigError(f"role name {role!r} must be lower-case letters, digits and _ (at most 63)")
    password = password or secrets.token_urlsafe(32)
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        verb = "ALTER" if exists else "CREATE"
        # Role names cannot be bound parameters; the name is validated above, the password is quoted by the server.
        quoted_pw = conn.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar()
        conn.execute(text(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {quoted_pw}"))
        conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
        conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}"))
        for grant in WORKER_GRANTS:
            conn.execute(text(grant.format(role=role)))
    return password
