"""The failure throttle under concurrency (OWASP ASVS V2.2.1): a burst of simultaneous wrong
passwords gets exactly the budget's worth of password checks, on SQLite and PostgreSQL.

Each attack is ``N`` requests at once through real uvicorn on 127.0.0.1 (in-process, the
portal's FakeClock), one thread and one HTTP client each. To make the race certain rather than
likely, every password check is held (:class:`Gate`) until each request is either in a
password check or answered: a throttle that lets attempts through before the earlier ones are
counted then lets all ``N`` through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import Engine, text

from ecusim.portal import passwords, service
from ecusim.portal.api import BackgroundServer
from ecusim.portal.service import Portal

from .kit import DEALER, PASSWORD, Staffing

ATTACKERS = 32
"""Simultaneous requests of one attack (below anyio's 40 worker threads)."""
GATE_TIMEOUT_S = 30.0
"""Generous bound of a held password check (it normally waits milliseconds)."""
WRONG = "wrong password"


class Gate:
    """Once armed for a burst of ``total`` requests (by :func:`_burst`), holds every password
    check until each of them is in a check or answered."""

    def __init__(self, verify: Callable[..., bool]) -> None:
        self._total = 0
        self._verify = verify
        self._checking = 0
        self._answered = 0
        self._armed = False
        self._condition = threading.Condition()

    def arm(self, total: int) -> None:
        with self._condition:
            self._armed, self._total = True, total

    @property
    def checks(self) -> int:
        """How many password checks (hashes) ran since it was armed."""
        with self._condition:
            return self._checking

    def _everyone_arrived(self) -> bool:
        return self._checking + self._answered >= self._total

    def verify_password(self, *args: object, **kwargs: object) -> bool:
        with self._condition:
            if self._armed:
                self._checking += 1
                self._condition.notify_all()
                self._condition.wait_for(self._everyone_arrived, timeout=GATE_TIMEOUT_S)
        return self._verify(*args, **kwargs)

    def answered(self) -> None:
        with self._condition:
            self._answered += 1
            self._condition.notify_all()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    held = Gate(passwords.verify_password)
    monkeypatch.setattr(service, "verify_password", held.verify_password)
    return held


@pytest.fixture
def api(portal: Portal, staff: Staffing) -> Iterator[str]:
    """The API's base URL on a free port of 127.0.0.1."""
    server = BackgroundServer(portal, lifespan="off")
    url = server.start()
    try:
        yield f"{url}/api/v1"
    finally:
        assert server.stop(), "uvicorn did not stop in time"


def _burst(
    gate: Gate, url: str, path: str, bodies: list[dict[str, str]], headers: dict[str, str]
) -> list[httpx.Response]:
    """POST every body at once, each from its own thread and client."""
    gate.arm(len(bodies))

    def send(body: dict[str, str]) -> httpx.Response:
        try:
            with httpx.Client(base_url=url, timeout=GATE_TIMEOUT_S * 2) as client:
                return client.post(path, json=body, headers=headers)
        finally:
            gate.answered()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def _statuses(answers: list[httpx.Response]) -> dict[int, int]:
    counted: dict[int, int] = {}
    for answer in answers:
        counted[answer.status_code] = counted.get(answer.status_code, 0) + 1
    return counted


def _actions(engine: Engine, action: str) -> list[tuple[str, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT actor, dealer_code FROM audit_record WHERE action = :a ORDER BY seq"),
            {"a": action},
        ).all()
    return [(row[0], row[1]) for row in rows]


def _failures(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM auth_failure")).scalar_one())


def _check_refusals(answers: list[httpx.Response], field: str) -> None:
    """A 401 is about the password; a 429 of the burst came while the admitted checks were
    still under way (held by the gate): it says so, with ``Retry-After: 1``."""
    for answer in answers:
        error = answer.json()["error"]
        if answer.status_code == 401:
            assert error["field"] == "password"
        else:
            assert error["field"] == field
            assert "under way" in error["reason"]
            assert answer.headers["Retry-After"] == "1"


def _locked_out(answer: httpx.Response, field: str, window_s: int) -> None:
    """After the burst the budget is used up by failures: 429 for the whole window."""
    assert answer.status_code == 429
    assert answer.json()["error"]["field"] == field
    assert "failed password attempts" in answer.json()["error"]["reason"]
    assert answer.headers["Retry-After"] == str(window_s)


def test_a_burst_of_wrong_logins_gets_exactly_the_account_budget_of_checks(
    api: str, gate: Gate, portal: Portal, engine: Engine, staff: Staffing
) -> None:
    budget = portal.settings.login_failure_budget
    window_s = int(portal.settings.failure_window.total_seconds())
    body = {"username": staff.technician, "password": WRONG}
    answers = _burst(gate, api, "/login", [body] * ATTACKERS, {})
    assert _statuses(answers) == {401: budget, 429: ATTACKERS - budget}
    assert gate.checks == budget
    _check_refusals(answers, "username")
    assert _failures(engine) == budget
    assert _actions(engine, "login-failed") == [(staff.technician, DEALER)] * budget
    assert _actions(engine, "throttled") == [(staff.technician, DEALER)]
    right = httpx.post(f"{api}/login", json={"username": staff.technician, "password": PASSWORD})
    _locked_out(right, "username", window_s)
    assert gate.checks == budget  # no hash for the right password either


def test_a_burst_of_wrong_step_ups_gets_exactly_the_account_budget_of_checks(
    api: str, gate: Gate, portal: Portal, engine: Engine, staff: Staffing
) -> None:
    budget = portal.settings.login_failure_budget
    window_s = int(portal.settings.failure_window.total_seconds())
    token, _expires, _user = portal.login(staff.technician, PASSWORD, "192.0.2.1")
    headers = {"Authorization": f"Bearer {token}"}
    answers = _burst(gate, api, "/step-up", [{"password": WRONG}] * ATTACKERS, headers)
    assert _statuses(answers) == {401: budget, 429: ATTACKERS - budget}
    assert gate.checks == budget
    _check_refusals(answers, "username")
    assert _failures(engine) == budget
    assert _actions(engine, "password-failed") == [(staff.technician, DEALER)] * budget
    assert _actions(engine, "throttled") == [(staff.technician, DEALER)]
    assert _actions(engine, "step-up") == []
    again = httpx.post(f"{api}/step-up", json={"password": PASSWORD}, headers=headers)
    _locked_out(again, "username", window_s)
    assert gate.checks == budget


def test_a_burst_of_wrong_logins_across_usernames_gets_exactly_the_address_budget(
    api: str, gate: Gate, portal: Portal, engine: Engine, staff: Staffing
) -> None:
    budget = portal.settings.address_failure_budget
    assert budget < ATTACKERS
    window_s = int(portal.settings.failure_window.total_seconds())
    bodies = [{"username": f"guess{number}", "password": WRONG} for number in range(ATTACKERS)]
    answers = _burst(gate, api, "/login", bodies, {})
    assert _statuses(answers) == {401: budget, 429: ATTACKERS - budget}
    assert gate.checks == budget
    _check_refusals(answers, "client_address")
    assert _failures(engine) == budget
    assert len(_actions(engine, "login-failed")) == budget
    assert len(_actions(engine, "throttled")) == 1
    right = httpx.post(f"{api}/login", json={"username": staff.manager, "password": PASSWORD})
    _locked_out(right, "client_address", window_s)
    assert gate.checks == budget


def test_right_passwords_beyond_the_budget_under_way_wait_a_second_not_the_window(
    api: str, gate: Gate, portal: Portal, engine: Engine, staff: Staffing
) -> None:
    """Checks under way count toward the budget (their outcome is unknown): one more than the
    budget at once is refused, but for 1 s; the right ones leave nothing counted."""
    budget = portal.settings.login_failure_budget
    body = {"username": staff.technician, "password": PASSWORD}
    answers = _burst(gate, api, "/login", [body] * (budget + 1), {})
    assert _statuses(answers) == {200: budget, 429: 1}
    (refused,) = [answer for answer in answers if answer.status_code == 429]
    assert refused.json()["error"]["field"] == "username"
    assert "under way" in refused.json()["error"]["reason"]
    assert refused.headers["Retry-After"] == "1"
    assert _failures(engine) == 0
    assert _actions(engine, "login-failed") == _actions(engine, "throttled") == []
    assert httpx.post(f"{api}/login", json=body).status_code == 200
