"""Database set-up: URL, engine, Alembic migrations and sessions.

An SQLite file by default (zero set-up), PostgreSQL by URL
(``postgresql+psycopg://user@host/db``, psycopg 3). On SQLite every transaction starts with
``BEGIN IMMEDIATE`` (it takes the write lock at once, waiting up to the busy timeout), foreign
keys are on and the journal is WAL; on PostgreSQL writers serialise on ``SELECT … FOR UPDATE`` of
the audit head. Either way two racing writers run one after the other, never interleaved.

Operator safety (docs/portal-security.md "Database files and operator errors"): only those two
kinds of URL are accepted (:func:`check_database_url`; ``postgresql://`` means psycopg 3); a new
SQLite file is created owner-only (0600, its ``-wal``/``-shm`` files inherit the mode); and
:func:`upgrade` refuses, before writing anything, a database that holds another application's
tables or an Alembic revision the portal's migrations do not know
(:func:`check_portal_database`).

Audit (docs/portal-security.md "The audit chain and its anchors"): :func:`upgrade` of a database
from before keyed audit chaining (revision 0001) seals its unkeyed records with a keyed
``audit-keyed`` record (:func:`ecusim.portal.audit.seal`), so it needs the audit key then.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from ecusim.portal import audit
from ecusim.portal.errors import PortalError
from ecusim.portal.models import Base

__all__ = [
    "DEFAULT_DB_FILENAME",
    "FILE_MODE",
    "PRE_KEYED_REVISIONS",
    "SUPPORTED_URLS",
    "URL_ENV_VAR",
    "DatabaseError",
    "ForeignDatabaseError",
    "UnsupportedDatabaseURLError",
    "alembic_config",
    "check_database_url",
    "check_portal_database",
    "database_url",
    "make_engine",
    "make_session_factory",
    "records_to_seal",
    "sqlite_path",
    "tighten_sqlite_file",
    "upgrade",
]

DEFAULT_DB_FILENAME = "ecusim-portal.db"
"""File name of the default SQLite database."""

URL_ENV_VAR = "ECUSIM_PORTAL_DB"
"""Environment variable read by :func:`database_url` when no URL is given."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long an SQLite writer waits for another writer's lock."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

FILE_MODE: Final = 0o600
"""Mode of a new SQLite database file: owner read and write only (ASVS V4.3.3 [LAB])."""
SUPPORTED_URLS: Final = "sqlite:///PATH (a file) and postgresql+psycopg://USER@HOST/DB"
"""The accepted kinds of database URL, as the error says them."""
_POSTGRES_DRIVER: Final = "postgresql+psycopg"
_DRIVERS: Final = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "postgresql": _POSTGRES_DRIVER,  # SQLAlchemy's default driver would be psycopg2
    "postgres": _POSTGRES_DRIVER,
    _POSTGRES_DRIVER: _POSTGRES_DRIVER,
}
"""Accepted driver names and the one each means: we ship psycopg 3 only."""
PRE_KEYED_REVISIONS: Final = frozenset({"0001"})
"""Revisions from before keyed audit chaining: every audit record of such a database is legacy."""
_OWN_TABLES: Final = frozenset(Base.metadata.tables) | {"alembic_version"}


class DatabaseError(PortalError):
    """The database cannot be used by the portal (it is not the portal's, or unreachable)."""

    http_status = 503


class UnsupportedDatabaseURLError(DatabaseError, ValueError):
    """The URL names a database the portal does not support (MySQL, a typo, ``sqlite://``)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"unsupported database URL {url}; supported: {SUPPORTED_URLS}")


class ForeignDatabaseError(DatabaseError):
    """The database holds another application's tables or Alembic revision: the portal leaves
    it alone."""


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


def check_database_url(url: str | URL) -> URL:
    """``url`` parsed, with ``postgresql://`` meaning psycopg 3; anything but an SQLite file or
    PostgreSQL over psycopg raises :class:`UnsupportedDatabaseURLError`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabaseURLError(str(url)) from None
    if isinstance(url, str) and parsed.password is None:
        shown = url  # as typed (rendering would escape ":memory:")
    else:
        shown = parsed.render_as_string(hide_password=True)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise UnsupportedDatabaseURLError(shown)
    if driver.startswith("sqlite"):
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise UnsupportedDatabaseURLError(shown)
    return parsed.set(drivername=driver)


def sqlite_path(engine: Engine) -> Path | None:
    """The SQLite file of ``engine``; ``None`` for PostgreSQL."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    return Path(engine.url.database or "")


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` (:func:`check_database_url`) with the portal's SQLite settings
    (see the module docstring)."""
    parsed = check_database_url(url)
    if parsed.get_backend_name() == "sqlite":
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


def _known_revisions(engine: Engine) -> set[str]:
    script = ScriptDirectory.from_config(alembic_config(engine))
    return {revision.revision for revision in script.walk_revisions()}


def _inspect_without_writing(engine: Engine) -> tuple[list[str], list[str]]:
    """``(tables and views, alembic revisions)``. SQLite is read on a plain connection: the
    portal's own sets WAL mode, which would rewrite another application's file."""
    probe = create_engine(engine.url, poolclass=NullPool) if sqlite_path(engine) else engine
    try:
        with probe.connect() as connection:
            inspector = inspect(connection)
            names = [*inspector.get_table_names(), *inspector.get_view_names()]
            revisions: list[str] = []
            if "alembic_version" in names:
                rows = connection.execute(text("SELECT version_num FROM alembic_version"))
                revisions = [str(row[0]) for row in rows]
            connection.rollback()
    finally:
        if probe is not engine:
            probe.dispose()
    return names, revisions


def check_portal_database(engine: Engine) -> tuple[str, ...]:
    """Refuse (:class:`ForeignDatabaseError`) a database that is not empty and not the
    portal's: tables or views other than the portal's and ``alembic_version``, tables with the
    portal's names but no Alembic revision (only migrations make the portal's tables), or a
    revision the portal's migrations do not know. Reads only; a missing SQLite file passes.
    Returns the database's Alembic revisions (none: empty)."""
    path = sqlite_path(engine)
    if path is not None and not path.exists():
        return ()
    shown = engine.url.render_as_string(hide_password=True)
    names, revisions = _inspect_without_writing(engine)
    foreign = sorted(set(names) - _OWN_TABLES)
    if foreign:
        raise ForeignDatabaseError(
            f"{shown} is not a portal database: it holds tables {', '.join(foreign)} of "
            "another application; nothing was changed (give the portal a database of its own)"
        )
    portal_named = sorted(set(names) - {"alembic_version"})
    if portal_named and not revisions:
        raise ForeignDatabaseError(
            f"{shown} is not a portal database: it holds tables {', '.join(portal_named)} but no "
            "Alembic revision of the portal's (another application's, or a half-made copy); "
            "nothing was changed"
        )
    unknown = sorted(set(revisions) - _known_revisions(engine))
    if unknown:
        raise ForeignDatabaseError(
            f"{shown} is not a portal database: its Alembic revision {', '.join(unknown)} is "
            "unknown to the portal's migrations (another application's, or a newer portal's); "
            "nothing was changed"
        )
    return tuple(revisions)


def _crosses_to_keyed(revisions: tuple[str, ...], revision: str) -> bool:
    return (
        bool(revisions)
        and set(revisions) <= PRE_KEYED_REVISIONS
        and (revision not in PRE_KEYED_REVISIONS)
    )


def _head_seq(engine: Engine) -> int:
    with engine.connect() as connection:
        seq = connection.execute(text(f"SELECT seq FROM audit_head WHERE id = {audit.HEAD_ID}"))
        return int(seq.scalar_one_or_none() or 0)


def records_to_seal(engine: Engine, revision: str = "head") -> int:
    """How many legacy audit records :func:`upgrade` to ``revision`` would seal: those of a
    database from before keyed chaining (:data:`PRE_KEYED_REVISIONS`), else 0. Reads only."""
    if not _crosses_to_keyed(check_portal_database(engine), revision):
        return 0
    return _head_seq(engine)


def _create_sqlite_file(path: Path) -> None:
    """Create ``path`` empty with mode :data:`FILE_MODE` before SQLite opens it (whatever the
    umask); SQLite gives its ``-wal`` and ``-shm`` files the database file's mode."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise DatabaseError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)


def tighten_sqlite_file(engine: Engine) -> int | None:
    """Make an existing SQLite file (and its ``-wal``/``-shm``) owner-only; the old mode of the
    database file if it was group- or world-accessible, else ``None``."""
    path = sqlite_path(engine)
    if path is None or not path.is_file():
        return None
    old = stat.S_IMODE(path.stat().st_mode)
    if not old & 0o077:
        return None
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists():
            file.chmod(stat.S_IMODE(file.stat().st_mode) & FILE_MODE)
    return old


def upgrade(
    engine: Engine,
    revision: str = "head",
    *,
    audit_key: bytes | None = None,
    now: datetime | None = None,
) -> int:
    """Create or migrate the portal's tables to ``revision`` (idempotent): a missing SQLite file
    is created 0600 first; another application's database is refused before anything is
    written (:func:`check_portal_database`).

    A database from before keyed audit chaining that holds audit records has them sealed right
    after its migration, once (:func:`ecusim.portal.audit.seal`, keyed with ``audit_key``, dated
    ``now``, default the system clock): without ``audit_key`` it is refused before anything is
    written (:class:`DatabaseError`). Returns the number of records sealed."""
    revisions = check_portal_database(engine)
    crossing = _crosses_to_keyed(revisions, revision)
    legacy = _head_seq(engine) if crossing else 0
    if legacy and audit_key is None:
        shown = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(
            f"{shown} holds {legacy} unkeyed audit records of a portal from before keyed "
            "chaining: upgrading it seals them with the audit key, so give the portal's master "
            "secret; nothing was changed"
        )
    path = sqlite_path(engine)
    if path is not None:
        _create_sqlite_file(path)
    command.upgrade(alembic_config(engine), revision)
    if not legacy:
        return 0
    assert audit_key is not None
    with Session(engine) as session, session.begin():
        return audit.seal(
            session, audit.lock_head(session), key=audit_key, at=now or datetime.now(UTC)
        )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(engine, expire_on_commit=False)
