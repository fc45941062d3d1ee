"""Database files and operator errors: a new SQLite file is owner-only (0600) whatever the
umask, ``portal init`` tightens a loose one, an unsupported URL is one line (exit 2), and another
application's database is refused before anything is written (exit 1), on SQLite and
PostgreSQL, through the CLI and :meth:`Portal.open`."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from ecusim.cli.main import main
from ecusim.portal.db import (
    ForeignDatabaseError,
    UnsupportedDatabaseURLError,
    check_database_url,
    make_engine,
)
from ecusim.portal.service import Portal

from .kit import CHEAP_SETTINGS, DEALER, PASSWORD, snapshot

SUPPORTED = "supported: sqlite:///PATH (a file) and postgresql+psycopg://USER@HOST/DB"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, *argv: str) -> str:
    status, out, err = _run(capsys, *argv)
    assert status == code, err
    assert out == ""
    assert err.startswith("ecusim: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.removeprefix("ecusim: error: ").rstrip("\n")


@pytest.fixture(params=[0o022, 0o000, 0o077], ids=["umask022", "umask000", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


# -- file modes ----------------------------------------------------------------------------------


def test_init_creates_an_owner_only_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, umask: int
) -> None:
    database = tmp_path / "portal.db"
    code, out, _ = _run(capsys, "portal", "--db", f"sqlite:///{database}", "init")
    assert code == 0 and "tightened" not in out
    assert _mode(database) == 0o600


def test_portal_open_creates_owner_only_files(tmp_path: Path, umask: int) -> None:
    """The database file, and the -wal and -shm files SQLite makes beside it while in use."""
    database = tmp_path / "portal.db"
    portal = Portal.open(f"sqlite:///{database}", settings=CHEAP_SETTINGS)
    portal.enroll_dealer(DEALER, "Lexus of Lab City")
    portal.add_staff(DEALER, "alice", "Alice", "Service Manager", PASSWORD)
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o666])
def test_init_tightens_a_loose_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, loose: int
) -> None:
    database = tmp_path / "portal.db"
    url = f"sqlite:///{database}"
    assert main(["portal", "--db", url, "init"]) == 0
    database.chmod(loose)
    code, out, err = _run(capsys, "portal", "--db", url, "init")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"permissions of {database} tightened from {loose:04o} to 0600",
        f"portal database ready: {url}",
    ]
    assert _mode(database) == 0o600
    code, out, _ = _run(capsys, "portal", "--db", url, "init")  # tight already: quiet
    assert code == 0 and "tightened" not in out


def test_a_missing_folder_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    database = tmp_path / "no-such-folder" / "portal.db"
    error = _one_line_error(capsys, 1, "portal", "--db", f"sqlite:///{database}", "init")
    assert error == f"cannot create {database}: No such file or directory"


# -- unsupported URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://portal:hunter2@db.example/portal", "mysql://portal:***@db.example/portal"),
        ("mysql+pymysql://portal@db.example/portal", "mysql+pymysql://portal@db.example/portal"),
        ("oracle://scott@db.example/orcl", "oracle://scott@db.example/orcl"),
        ("mssql+pyodbc://sa@db.example/portal", "mssql+pyodbc://sa@db.example/portal"),
        ("postgresql+psycopg2://me@127.0.0.1/portal", "postgresql+psycopg2://me@127.0.0.1/portal"),
        ("sqllite:///portal.db", "sqllite:///portal.db"),
        ("postgress://me@127.0.0.1/portal", "postgress://me@127.0.0.1/portal"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("portal.db", "portal.db"),
    ],
)
def test_an_unsupported_url_is_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    shown: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in (("--db", url, "init"), ("init", "--db", url), ("--db", url, "audit", "verify")):
        error = _one_line_error(capsys, 2, "portal", *argv)
        assert error == f"--db: unsupported database URL {shown}; {SUPPORTED}"
    with pytest.raises(UnsupportedDatabaseURLError):
        Portal.open(url, settings=CHEAP_SETTINGS)
    assert list(tmp_path.iterdir()) == []  # nothing was written


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgresql_means_psycopg_3(scheme: str) -> None:
    url = check_database_url(f"{scheme}://me@127.0.0.1:5432/portal")
    assert url.drivername == "postgresql+psycopg"
    assert make_engine(f"{scheme}://me@127.0.0.1:5432/portal").dialect.driver == "psycopg"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_plain_postgresql_url_initialises(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    plain = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    code, out, err = _run(capsys, "portal", "--db", plain, "init")
    assert (code, err) == (0, ""), err
    assert out.startswith("portal database ready: postgresql+psycopg://")


# -- another application's database --------------------------------------------------------------


def _plain_engine(db_url: str) -> Engine:
    """An engine without the portal's connection settings (no WAL): the other application."""
    return create_engine(db_url)


def _file_state(db_url: str) -> tuple[str, list[str]] | None:
    """SQLite: the file's SHA-256 and the names beside it (no -wal/-shm left behind)."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite":
        return None
    path = Path(url.database or "")
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(
        p.name for p in path.parent.iterdir()
    )


def _foreign(db_url: str, *statements: str) -> None:
    engine = _plain_engine(db_url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


CUSTOMERS = (
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(40))",
    "INSERT INTO customers (id, name) VALUES (1, 'Smith')",
)
FOREIGN_REVISION = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
    "INSERT INTO alembic_version (version_num) VALUES ('deadbeef1234')",
)


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (CUSTOMERS, "it holds tables customers of another application; nothing was changed"),
        (
            (*CUSTOMERS, "CREATE TABLE orders (id INTEGER PRIMARY KEY)", *FOREIGN_REVISION),
            "it holds tables customers, orders of another application; nothing was changed",
        ),
        (
            FOREIGN_REVISION,
            "its Alembic revision deadbeef1234 is unknown to the portal's migrations",
        ),
    ],
    ids=["customers", "tables-and-revision", "revision"],
)
def test_another_applications_database_is_left_alone(
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    statements: tuple[str, ...],
    expected: str,
) -> None:
    _foreign(db_url, *statements)
    plain = _plain_engine(db_url)
    before, files = snapshot(plain), _file_state(db_url)
    shown = make_url(db_url).render_as_string(hide_password=True)
    for argv in (("init",), ("init", "--demo"), ("audit", "verify"), ("dealer", "add", "1", "X")):
        error = _one_line_error(capsys, 1, "portal", "--db", db_url, *argv)
        assert error.startswith(f"{shown} is not a portal database: {expected}"), error
    with pytest.raises(ForeignDatabaseError) as caught:
        Portal.open(db_url, settings=CHEAP_SETTINGS)
    assert expected in str(caught.value)
    assert snapshot(plain) == before
    assert _file_state(db_url) == files
    plain.dispose()


def test_a_foreign_sqlite_file_keeps_its_mode(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    database = tmp_path / "shop.db"
    url = f"sqlite:///{database}"
    _foreign(url, *CUSTOMERS)
    database.chmod(0o644)
    _one_line_error(capsys, 1, "portal", "--db", url, "init")
    assert _mode(database) == 0o644


def test_portal_named_tables_without_the_portals_revision_are_foreign(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A file whose only table has a portal table's name (``staff``) but no ``alembic_version``
    row of the portal's: refused before the mode is touched or a table is created."""
    database = tmp_path / "hr.db"
    url = f"sqlite:///{database}"
    _foreign(url, "CREATE TABLE staff (id INTEGER PRIMARY KEY, name VARCHAR(40))")
    database.chmod(0o644)
    before = database.read_bytes()
    error = _one_line_error(capsys, 1, "portal", "--db", url, "init")
    assert error == (
        f"{url} is not a portal database: it holds tables staff but no Alembic revision of the "
        "portal's (another application's, or a half-made copy); nothing was changed"
    )
    assert _mode(database) == 0o644
    assert database.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hr.db"]
