"""Server-side sessions (OWASP ASVS V3): the role re-read on every request, logout, revocation
on a staff change, and the step-up before Pass-Codes; through real uvicorn on 127.0.0.1 with
the portal's FakeClock, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from ecusim.cli.main import main
from ecusim.portal.api import BackgroundServer
from ecusim.portal.client import PortalClient, PortalClientError
from ecusim.portal.service import Portal, RequestView
from protocol.clock import FakeClock

from .kit import PASSWORD, Staffing, snapshot

SEED = "00010203-04050607-08090A0B-0C0D0E0F"
TOOL = "9.10.037"
Headers = dict[str, str]


@pytest.fixture
def url(portal: Portal, staff: Staffing) -> Iterator[str]:
    server = BackgroundServer(portal, lifespan="off")
    base = server.start()
    try:
        yield f"{base}/api/v1"
    finally:
        assert server.stop(), "uvicorn did not stop in time"


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=10.0) as client:
        yield client


def login(http: httpx.Client, username: str) -> Headers:
    response = http.post("/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def error_of(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert (error["status"], error["field"]) == (status, field)
    return error


def sql(engine: Engine, statement: str, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), values)


# -- the role, read on every request ---------------------------------------------------------------


def test_a_demoted_manager_loses_the_audit_log_at_once(
    http: httpx.Client, engine: Engine, staff: Staffing
) -> None:
    manager = login(http, staff.manager)
    assert http.get("/audit", headers=manager).status_code == 200
    sql(engine, "UPDATE staff SET job_title = 'Technician' WHERE username = :u", u=staff.manager)
    error_of(http.get("/audit", headers=manager), 403, "job_title")
    assert http.get("/me", headers=manager).json()["can_approve"] is False


def test_a_change_through_the_api_revokes_the_member_s_sessions(
    http: httpx.Client, engine: Engine, staff: Staffing
) -> None:
    demoted = login(http, staff.manager)
    also_demoted = login(http, staff.manager)
    manager2 = login(http, staff.manager2)
    changed = http.patch(
        f"/staff/{staff.manager}", headers=manager2, json={"job_title": "Technician"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["job_title"], changed.json()["can_approve"]) == ("Technician", False)
    for headers in (demoted, also_demoted):
        error_of(http.get("/audit", headers=headers), 401, "authorization")
    assert http.get("/me", headers=manager2).status_code == 200  # other members keep theirs
    with engine.connect() as connection:
        record = connection.execute(
            text("SELECT actor, dealer_code, details FROM audit_record ORDER BY seq DESC LIMIT 1")
        ).one()
    assert record[0] == staff.manager2
    assert '"sessions_revoked":2' in record[2]
    assert '"before":{"enrolled":true,"job_title":"Service Manager"}' in record[2]


def test_staff_changes_are_for_managers_of_the_same_dealer(
    http: httpx.Client, engine: Engine, staff: Staffing
) -> None:
    manager, tech = login(http, staff.manager), login(http, staff.technician)
    before = snapshot(engine)
    body = {"enrolled": False}
    error_of(http.patch(f"/staff/{staff.technician2}", headers=tech, json=body), 403, "job_title")
    error_of(
        http.patch(f"/staff/{staff.other_manager}", headers=manager, json=body), 404, "username"
    )
    error_of(http.patch("/staff/nobody", headers=manager, json=body), 404, "username")
    error_of(http.patch(f"/staff/{staff.technician}", headers=manager, json={}), 422, "job_title")
    error_of(
        http.patch(f"/staff/{staff.technician}", headers=manager, json={"enrolled": "no"}),
        422,
        "enrolled",
    )
    error_of(http.patch(f"/staff/{staff.technician}", json=body), 401, "authorization")
    assert snapshot(engine) == before
    assert http.get("/me", headers=tech).status_code == 200


def test_a_change_on_the_command_line_revokes_the_member_s_sessions(
    http: httpx.Client, db_url: str, staff: Staffing, capsys: pytest.CaptureFixture[str]
) -> None:
    tech = login(http, staff.technician)
    argv = ["portal", "--db", db_url, "staff", "set", staff.technician, "--not-enrolled"]
    assert main(argv) == 0
    assert "not enrolled; their login sessions are revoked" in capsys.readouterr().out
    error_of(http.get("/me", headers=tech), 401, "authorization")
    again = login(http, staff.technician)
    assert http.get("/me", headers=again).json()["enrolled"] is False
    argv = ["portal", "--db", db_url, "staff", "set", staff.technician, "--enrolled"]
    assert main([*argv, "--job-title", "Service Manager"]) == 0
    assert main(["portal", "--db", db_url, "staff", "set", staff.technician]) == 2
    assert "nothing to change" in capsys.readouterr().err


# -- logout and expiry -----------------------------------------------------------------------------


def test_after_logout_the_token_is_refused(http: httpx.Client, staff: Staffing) -> None:
    tech, other = login(http, staff.technician), login(http, staff.technician)
    out = http.post("/logout", headers=tech)
    assert (out.status_code, out.content) == (204, b"")
    error_of(http.get("/me", headers=tech), 401, "authorization")
    error_of(http.post("/logout", headers=tech), 401, "authorization")
    error_of(http.post("/logout"), 401, "authorization")
    assert http.get("/me", headers=other).status_code == 200  # one session only


def test_the_client_logs_out_on_the_server(url: str, staff: Staffing) -> None:
    with PortalClient(url) as client:
        session = client.login(staff.technician, PASSWORD)
        client.logout()
        assert client.session is None
        client.logout()  # nothing to do
    with httpx.Client(base_url=url, timeout=10.0) as http:
        headers = {"Authorization": f"Bearer {session.token}"}
        error_of(http.get("/me", headers=headers), 401, "authorization")


def test_only_the_token_s_digest_is_stored(
    http: httpx.Client, engine: Engine, staff: Staffing
) -> None:
    token = login(http, staff.technician)["Authorization"].removeprefix("Bearer ")
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT token_sha256, client_address FROM login_session")
        ).one()
    assert token not in row[0]
    assert len(row[0]) == 64
    assert row[1] == "127.0.0.1"  # the TCP peer, never X-Forwarded-For


def test_x_forwarded_for_is_not_trusted(http: httpx.Client, engine: Engine) -> None:
    for number in range(3):
        http.post(
            "/login",
            json={"username": "nobody", "password": "wrong password"},
            headers={"X-Forwarded-For": f"198.51.100.{number}"},
        )
    with engine.connect() as connection:
        addresses = connection.execute(text("SELECT client_address FROM auth_failure")).all()
    assert {row[0] for row in addresses} == {"127.0.0.1"}


# -- step-up before Pass-Codes ---------------------------------------------------------------------


def issue(http: httpx.Client, headers: Headers, number: str, **extra: str) -> httpx.Response:
    return http.post(
        f"/requests/{number}/pass-codes",
        headers=headers,
        json={"tool_version": TOOL, "seed": SEED, **extra},
    )


def test_pass_codes_need_a_step_up_window(
    http: httpx.Client, engine: Engine, portal: Portal, approved: RequestView, clock: FakeClock
) -> None:
    tech = login(http, "carol")
    before = snapshot(engine)
    error = error_of(issue(http, tech, approved.number), 401, "password")
    assert "re-enter your password" in error["reason"]
    assert snapshot(engine) == before

    error_of(http.post("/step-up", headers=tech, json={"password": "wrong"}), 401, "password")
    with engine.connect() as connection:
        kinds = connection.execute(text("SELECT kind FROM auth_failure")).scalars().all()
    assert kinds == ["password"]  # a wrong re-entry counts toward the throttle
    error_of(issue(http, tech, approved.number), 401, "password")

    opened = http.post("/step-up", headers=tech, json={"password": PASSWORD})
    assert opened.status_code == 200, opened.text
    assert opened.json() == {"step_up_until": "2014-07-01T20:32:00+00:00"}
    for seed in (SEED, "A5A5A5A5-A5A5A5A5-A5A5A5A5-A5A5A5A5"):
        issued = http.post(
            f"/requests/{approved.number}/pass-codes",
            headers=tech,
            json={"tool_version": TOOL, "seed": seed},
        )
        assert issued.status_code == 201, issued.text
    clock.advance(portal.settings.step_up_window.total_seconds())  # the window's last instant
    assert issue(http, tech, approved.number).status_code == 201
    clock.advance(1)
    error_of(issue(http, tech, approved.number), 401, "password")

    with_password = issue(http, tech, approved.number, password=PASSWORD)  # a re-entry
    assert with_password.status_code == 201, with_password.text
    assert issue(http, tech, approved.number).status_code == 201  # it opened the window
    other_session = login(http, "carol")
    error_of(issue(http, other_session, approved.number), 401, "password")  # per session


def test_wrong_re_entries_are_throttled_like_logins(
    http: httpx.Client, portal: Portal, staff: Staffing, approved: RequestView
) -> None:
    tech = login(http, staff.technician)
    for _ in range(portal.settings.login_failure_budget):
        error_of(http.post("/step-up", headers=tech, json={"password": "wrong"}), 401, "password")
    throttled = http.post("/step-up", headers=tech, json={"password": PASSWORD})
    error_of(throttled, 429, "username")
    assert int(throttled.headers["Retry-After"]) >= 1
    error_of(issue(http, tech, approved.number, password=PASSWORD), 429, "username")
    error_of(
        http.post("/login", json={"username": staff.technician, "password": PASSWORD}),
        429,
        "username",
    )


def test_the_client_steps_up_once(url: str, staff: Staffing, approved: RequestView) -> None:
    with PortalClient(url) as client:
        client.login(staff.technician, PASSWORD)
        with pytest.raises(PortalClientError) as refusal:
            client.issue_pass_code(approved.number, None, TOOL, SEED)
        assert (refusal.value.status, refusal.value.field) == (401, "password")
        until = client.step_up(PASSWORD)
        assert until.isoformat() == "2014-07-01T20:32:00+00:00"
        issued = client.issue_pass_code(approved.number, None, TOOL, bytes(16))
        assert issued.request_number == approved.number
        assert client.issue_pass_code(approved.number, PASSWORD, TOOL, SEED).pass_code
        client.logout()
    with PortalClient(url) as client:
        for _ in range(5):
            with pytest.raises(PortalClientError):
                client.login(staff.technician2, "wrong password")
        with pytest.raises(PortalClientError) as throttled:
            client.login(staff.technician2, PASSWORD)
        assert throttled.value.status == 429
        assert throttled.value.retry_after_s == 900
