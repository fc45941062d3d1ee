"""The Alembic migrations create exactly the ORM's tables, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from ecusim.portal.db import DEFAULT_DB_FILENAME, database_url, make_engine, upgrade
from ecusim.portal.models import Base


def test_migrations_match_models(engine: Engine) -> None:
    upgrade(engine)  # a second run changes nothing
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert "alembic_version" in inspect(engine).get_table_names()


def test_default_url_is_an_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECUSIM_PORTAL_DB", raising=False)
    url = database_url(None, tmp_path)
    assert url == f"sqlite:///{tmp_path / DEFAULT_DB_FILENAME}"
    assert database_url("postgresql+psycopg://x@h/db") == "postgresql+psycopg://x@h/db"
    monkeypatch.setenv("ECUSIM_PORTAL_DB", "sqlite:////elsewhere.db")
    assert database_url(None, tmp_path) == "sqlite:////elsewhere.db"


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="file"):
        make_engine("sqlite://")
