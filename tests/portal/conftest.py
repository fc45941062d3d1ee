"""Portal fixtures: every database test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL comes from ``ECUSIM_TEST_POSTGRES_URL`` (``postgresql+psycopg://user@host:port/db``,
a role allowed to create databases; ``.ci/postgres.sh`` sets it). Each test gets a fresh database,
dropped afterwards. Without the variable the PostgreSQL cases are skipped, saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from ecusim.portal.db import make_engine, make_session_factory, upgrade
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.service import Portal, RequestView
from protocol.clock import FakeClock

from .kit import (
    CHEAP_SETTINGS,
    DEALER,
    OTHER_DEALER,
    PASSWORD,
    POSTGRES_ENV_VAR,
    START,
    Staffing,
    make_request,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.db'}"
        return
    base = os.environ.get(POSTGRES_ENV_VAR)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV_VAR} (see tests/portal/conftest.py)")
    name = f"ecusim_portal_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START.timestamp())


@pytest.fixture
def portal(engine: Engine, clock: FakeClock) -> Portal:
    return Portal(make_session_factory(engine), clock, settings=CHEAP_SETTINGS)


@pytest.fixture
def staff(portal: Portal) -> Staffing:
    cast = Staffing()
    portal.enroll_dealer(DEALER, "Lexus of Lab City")
    portal.enroll_dealer(OTHER_DEALER, "Lexus of Elsewhere")
    for dealer, username, title in (
        (DEALER, cast.manager, "Service Manager"),
        (DEALER, cast.manager2, "general manager"),
        (DEALER, cast.technician, "Technician"),
        (DEALER, cast.technician2, "Master Technician"),
        (OTHER_DEALER, cast.other_manager, "Service Manager"),
        (OTHER_DEALER, cast.other_manager2, "Parts Director"),
    ):
        portal.add_staff(dealer, username, username.title(), title, PASSWORD)
    return cast


@pytest.fixture
def approved(portal: Portal, staff: Staffing) -> RequestView:
    request = make_request(portal, staff.technician)
    return portal.approve(staff.manager, request.number, ApprovalConfirmations.all_confirmed())
