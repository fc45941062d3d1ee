"""Database set-up: URL, engine, Alembic migrations and sessions.

An SQLite file by default (zero set-up), PostgreSQL by URL
(``postgresql+psycopg://user@host/db``, psycopg 3). On SQLite every transaction starts with
``BEGIN IMMEDIATE`` (it takes the write lock at once, waiting up to the busy timeout), foreign
keys are on and the journal is WAL; on PostgreSQL writers serialise on ``SELECT … FOR UPDATE`` of
the audit head. Either way two racing writers run one after the other, never interleaved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "DEFAULT_DB_FILENAME",
    "URL_ENV_VAR",
    "alembic_config",
    "database_url",
    "make_engine",
    "make_session_factory",
    "upgrade",
]

DEFAULT_DB_FILENAME = "ecusim-portal.db"
"""File name of the default SQLite database."""

URL_ENV_VAR = "ECUSIM_PORTAL_DB"
"""Environment variable read by :func:`database_url` when no URL is given."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long an SQLite writer waits for another writer's lock."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def database_url(url: str | None = None, data_dir: Path | None = None) -> str:
    """The URL to use: ``url`` if given, else ``$ECUSIM_PORTAL_DB``, else an SQLite file
    :data:`DEFAULT_DB_FILENAME` in ``data_dir`` (default: the current directory)."""
    if url:
        return url
    from_env = os.environ.get(URL_ENV_VAR)
    if from_env:
        return from_env
    folder = data_dir if data_dir is not None else Path.cwd()
    return f"sqlite:///{(folder / DEFAULT_DB_FILENAME).resolve()}"


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN, not pysqlite (which would defer it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _on_sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the portal's SQLite settings (see the module docstring)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ValueError("the portal needs an SQLite file, not an in-memory database")
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration for the packaged migrations, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the portal's tables to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(engine, expire_on_commit=False)
