"""Engines and sessions for the index database: PostgreSQL in production, SQLite as the embedded default."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigError


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite gets write transactions that lock at BEGIN, so the audit chain never forks."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigError(f"DATABASE_URL is not a database URL ({e})", setting="DATABASE_URL") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        _sqlite_serialised_writes(engine)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"DATABASE_URL uses {parsed.get_backend_name()}; use postgresql:// or sqlite:///",
                          setting="DATABASE_URL")
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _sqlite_serialised_writes(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def index_sessions(database_url: str) -> sessionmaker[Session]:
    """Sessions on the index, refusing with the fix if the schema was never created."""
    from sqlalchemy import inspect

    engine = make_engine(database_url)
    if not inspect(engine).has_table("users"):
        engine.dispose()
        raise ConfigError("the index database has no tables yet: run `cloudai db upgrade`", setting="DATABASE_URL")
    return session_factory(engine)
