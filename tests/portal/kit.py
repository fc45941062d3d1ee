"""Constants and helpers shared by the portal tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect, text

from ecusim.portal.errors import PortalError
from ecusim.portal.rules import IdentificationConfirmations
from ecusim.portal.service import Portal, RequestView
from ecusim.portal.settings import PortalSettings

POSTGRES_ENV_VAR = "ECUSIM_TEST_POSTGRES_URL"
START = datetime(2014, 7, 1, 20, 27, tzinfo=UTC)
"""The bulletin's example request time (01:27 PM PDT)."""
PASSWORD = "correct horse battery"
CHEAP_SCRYPT_N = 2**10
"""The scrypt cost of the tests' hashes (the default, 2^17, takes ~0.3 s and 128 MiB each)."""
CHEAP_SETTINGS = PortalSettings(scrypt_n=CHEAP_SCRYPT_N)
"""Tests add many users: a lower scrypt cost (stored in each hash, so verify still works). The
portals built without settings (the CLI's, subprocesses') get it from ``$ECUSIM_PORTAL_SCRYPT_N``
(tests/conftest.py)."""
DEALER = "63123"
OTHER_DEALER = "64001"
VIN = "JTHBL5EF0C5000001"


@dataclass(frozen=True)
class Staffing:
    """Usernames of the standard cast."""

    manager: str = "alice"  # Service Manager, DEALER
    manager2: str = "bob"  # General Manager, DEALER
    technician: str = "carol"  # Technician, DEALER
    technician2: str = "dave"  # Technician, DEALER
    other_manager: str = "erin"  # Service Manager, OTHER_DEALER
    other_manager2: str = "frank"  # Parts Director, OTHER_DEALER


def make_request(portal: Portal, username: str, vin: str = VIN) -> RequestView:
    return portal.create_request(
        username, vin, "RO-4711", "Smith", IdentificationConfirmations.all_confirmed()
    )


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, for "the database did not change" checks."""
    tables = sorted(inspect(engine).get_table_names())
    with engine.connect() as connection:
        return {
            table: sorted(
                (tuple(row) for row in connection.execute(text(f'SELECT * FROM "{table}"'))),
                key=repr,
            )
            for table in tables
        }


AUDIT_TABLES = ("audit_head", "audit_record")
"""The audit chain: what a refused Pass-Code writes to (its own ISSUE_REFUSED record)."""


def without_audit(
    tables: dict[str, list[tuple[object, ...]]],
) -> dict[str, list[tuple[object, ...]]]:
    """A :func:`snapshot` without the audit chain's tables: the business tables."""
    return {table: rows for table, rows in tables.items() if table not in AUDIT_TABLES}


def audit_actions(engine: Engine, since_seq: int = 0) -> list[str]:
    """The actions of the audit records after ``since_seq``, in order."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT action FROM audit_record WHERE seq > :seq ORDER BY seq"),
            {"seq": since_seq},
        )
        return [str(action) for (action,) in rows]


def audit_seq(engine: Engine) -> int:
    """The audit head's ``seq``: the number of the last record."""
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT seq FROM audit_head")).scalar_one())


def refused(
    engine: Engine,
    error: type[PortalError],
    field: str,
    action: Callable[[], object],
    *,
    audited: str | None = None,
) -> PortalError:
    """Run ``action``; it must raise ``error`` naming ``field`` and change nothing (but one
    audit record ``audited``, if given: a refused Pass-Code is a security event)."""
    before, seq = snapshot(engine), audit_seq(engine)
    with pytest.raises(error) as caught:
        action()
    assert caught.value.field == field, caught.value
    assert caught.value.reason
    if audited is None:
        assert snapshot(engine) == before
    else:
        assert without_audit(snapshot(engine)) == without_audit(before)
        assert audit_actions(engine, seq) == [audited]
    return caught.value
