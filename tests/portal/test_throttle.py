"""The failure throttle (OWASP ASVS V2.2.1): failed logins and re-entries counted in the
database, per account and per client address, on SQLite and PostgreSQL.

The acceptance test goes through real uvicorn on 127.0.0.1 with the portal's FakeClock; the
rest call the service.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text

from ecusim.portal.api import BackgroundServer
from ecusim.portal.errors import AuthenticationError, RateLimitedError, ValidationError
from ecusim.portal.service import Portal
from protocol.clock import FakeClock

from .kit import DEALER, PASSWORD, Staffing, snapshot

WRONG = "wrong password"


@pytest.fixture
def http(portal: Portal, staff: Staffing) -> Iterator[httpx.Client]:
    """The API on a free port of 127.0.0.1, in-process, on the FakeClock portal."""
    server = BackgroundServer(portal, lifespan="off")
    url = server.start()
    try:
        with httpx.Client(base_url=f"{url}/api/v1", timeout=10.0) as client:
            yield client
    finally:
        assert server.stop(), "uvicorn did not stop in time"


def _actions(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT action, actor, dealer_code FROM audit_record ORDER BY seq")
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def _failures(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM auth_failure")).scalar_one())


def test_thirty_wrong_passwords_then_429_even_for_the_right_one_until_the_window_ends(
    http: httpx.Client, portal: Portal, engine: Engine, staff: Staffing, clock: FakeClock
) -> None:
    budget = portal.settings.login_failure_budget
    window_s = int(portal.settings.failure_window.total_seconds())
    answers = [
        http.post("/login", json={"username": staff.technician, "password": WRONG})
        for _ in range(30)
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [401] * budget + [429] * (30 - budget)
    assert {answer.json()["error"]["field"] for answer in answers[:budget]} == {"password"}
    throttled = answers[budget]
    assert throttled.json()["error"]["field"] == "username"
    assert throttled.headers["Retry-After"] == str(window_s)  # every failure at the same instant
    assert _failures(engine) == budget  # the 429s are not counted
    failed = [a for a in _actions(engine) if a[0] in ("login-failed", "throttled")]
    assert failed == [("login-failed", staff.technician, DEALER)] * budget + [
        ("throttled", staff.technician, DEALER)
    ]

    clock.advance(window_s - 100)
    before = snapshot(engine)
    right = http.post("/login", json={"username": staff.technician, "password": PASSWORD})
    assert right.status_code == 429, right.text
    assert right.headers["Retry-After"] == "100"
    assert snapshot(engine) == before  # no hash, no write

    clock.advance(100)  # the failures leave the window
    assert (
        http.post("/login", json={"username": staff.technician, "password": PASSWORD}).status_code
        == 200
    )
    assert (
        http.post("/login", json={"username": staff.manager, "password": PASSWORD}).status_code
        == 200
    )


def test_the_address_budget_holds_across_usernames(
    portal: Portal, engine: Engine, staff: Staffing
) -> None:
    budget = portal.settings.address_failure_budget
    for number in range(budget):
        with pytest.raises(AuthenticationError):
            portal.login(f"guess{number}", WRONG, "192.0.2.7")
    with pytest.raises(RateLimitedError) as refusal:
        portal.login(staff.manager, PASSWORD, "192.0.2.7")
    assert refusal.value.field == "client_address"
    assert refusal.value.retry_after_s == int(portal.settings.failure_window.total_seconds())
    token, _expires, user = portal.login(staff.manager, PASSWORD, "192.0.2.8")
    assert token and user.username == staff.manager
    unknown = [a for a in _actions(engine) if a[0] == "login-failed"]
    assert unknown[0] == ("login-failed", "guess0", None)  # no such user: no dealer
    assert [a[0] for a in _actions(engine)].count("throttled") == 1


def test_a_login_forgets_the_account_s_failed_logins(portal: Portal, staff: Staffing) -> None:
    budget = portal.settings.login_failure_budget
    for _ in range(budget - 1):
        with pytest.raises(AuthenticationError):
            portal.login(staff.technician, WRONG, "192.0.2.1")
    portal.login(staff.technician, PASSWORD, "192.0.2.1")
    for _ in range(budget - 1):
        with pytest.raises(AuthenticationError):
            portal.login(staff.technician, WRONG, "192.0.2.1")
    portal.login(staff.technician, PASSWORD, "192.0.2.1")  # the count started again


def test_the_retry_after_counts_from_the_oldest_failure(
    portal: Portal, staff: Staffing, clock: FakeClock
) -> None:
    budget = portal.settings.login_failure_budget
    for _ in range(budget):
        with pytest.raises(AuthenticationError):
            portal.login(staff.technician, WRONG, "192.0.2.1")
        clock.advance(60)
    with pytest.raises(RateLimitedError) as refusal:
        portal.login(staff.technician, PASSWORD, "192.0.2.1")
    window_s = int(portal.settings.failure_window.total_seconds())
    assert refusal.value.retry_after_s == window_s - 60 * budget
    clock.advance(refusal.value.retry_after_s)
    portal.login(staff.technician, PASSWORD, "192.0.2.1")


def test_wrong_re_entries_on_the_command_line_count_for_the_account(
    portal: Portal, engine: Engine, staff: Staffing
) -> None:
    budget = portal.settings.login_failure_budget
    for _ in range(budget):
        with pytest.raises(AuthenticationError) as wrong:
            portal.issue_pass_code(staff.technician, "14070100001", WRONG, "9.10.037", "00" * 16)
        assert wrong.value.field == "password"
    assert [a[0] for a in _actions(engine)].count("password-failed") == budget
    with pytest.raises(RateLimitedError):
        portal.login(staff.technician, PASSWORD, "192.0.2.1")


def test_old_failures_are_deleted_as_new_ones_are_written(
    portal: Portal, engine: Engine, staff: Staffing, clock: FakeClock
) -> None:
    with pytest.raises(AuthenticationError):
        portal.login(staff.technician, WRONG, "192.0.2.1")
    clock.advance(portal.settings.failure_window.total_seconds())
    with pytest.raises(AuthenticationError):
        portal.login(staff.manager, WRONG, "192.0.2.1")
    assert _failures(engine) == 1


def test_a_long_username_is_refused_before_any_sql(
    portal: Portal, engine: Engine, staff: Staffing
) -> None:
    """No staff member can have it (the column holds 64): 422, nothing counted, nothing hashed."""
    before = snapshot(engine)
    for _ in range(portal.settings.login_failure_budget + 1):
        with pytest.raises(ValidationError) as caught:
            portal.login("x" * 500, WRONG, "192.0.2.1")
        assert caught.value.field == "username"
    assert snapshot(engine) == before
