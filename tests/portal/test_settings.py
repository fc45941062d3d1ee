"""The portal's settings are bounded: a duration too long for the date arithmetic (which made
every login answer 500) is refused at start-up, as one line naming the variable."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pydantic
import pytest

from ecusim.cli.main import main
from ecusim.portal import api
from ecusim.portal.errors import SettingsError
from ecusim.portal.service import Portal
from ecusim.portal.settings import (
    MAX_FAILURE_WINDOW,
    MAX_ISSUE_RATE_WINDOW,
    MAX_SESSION_LIFETIME,
    MAX_STEP_UP_WINDOW,
    PortalSettings,
)
from protocol.clock import FakeClock

from .kit import CHEAP_SCRYPT_N, PASSWORD, Staffing

BOUNDS = {
    "session_lifetime": (MAX_SESSION_LIFETIME, "30 days"),
    "step_up_window": (MAX_STEP_UP_WINDOW, "1 day"),
    "failure_window": (MAX_FAILURE_WINDOW, "1 day"),
    "issue_rate_window": (MAX_ISSUE_RATE_WINDOW, "31 days"),
}
HUGE = "P999999D"
"""The tester's value: the server started, and every login then answered 500."""


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_a_duration_over_its_bound_is_refused(name: str) -> None:
    bound, said = BOUNDS[name]
    PortalSettings.model_validate({name: bound})
    for value in (HUGE, bound + timedelta(seconds=1)):
        with pytest.raises(pydantic.ValidationError, match=f"less than or equal to {said}"):
            PortalSettings.model_validate({name: value})


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_from_env_names_the_variable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    variable = f"ECUSIM_PORTAL_{name.upper()}"
    monkeypatch.setenv(variable, HUGE)
    with pytest.raises(SettingsError) as refused:
        PortalSettings.from_env()
    assert str(refused.value) == (
        f"{variable}: Input should be less than or equal to {BOUNDS[name][1]}"
    )


def test_the_longest_durations_work(portal: Portal, staff: Staffing, clock: FakeClock) -> None:
    """At every bound a login, a step-up and the throttle's arithmetic still work."""
    longest = Portal(
        portal._sessions,
        clock,
        settings=PortalSettings(
            scrypt_n=CHEAP_SCRYPT_N,
            session_lifetime=MAX_SESSION_LIFETIME,
            step_up_window=MAX_STEP_UP_WINDOW,
            failure_window=MAX_FAILURE_WINDOW,
            issue_rate_window=MAX_ISSUE_RATE_WINDOW,
        ),
    )
    token, expires_at, _user = longest.login(staff.technician, PASSWORD, "192.0.2.1")
    assert expires_at == longest.now() + MAX_SESSION_LIFETIME
    opened = longest.step_up(token, PASSWORD, "192.0.2.1")
    assert opened.step_up_until == longest.now() + MAX_STEP_UP_WINDOW


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_serve_with_a_huge_duration_is_one_line_and_does_not_listen(
    name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("ECUSIM_PORTAL_DB", raising=False)
    calls: list[str] = []

    def listen(host: str, port: int) -> socket.socket:
        calls.append("listen")
        return socket.create_server(("127.0.0.1", 0))

    def serve(*_args: object, **_kwargs: object) -> None:
        calls.append("serve")

    monkeypatch.setattr(api, "listen", listen)
    monkeypatch.setattr(api, "serve", serve)
    db = f"sqlite:///{tmp_path / 'portal.db'}"
    assert main(["portal", "init", "--db", db]) == 0
    capsys.readouterr()
    variable = f"ECUSIM_PORTAL_{name.upper()}"
    monkeypatch.setenv(variable, HUGE)
    code = main(["portal", "serve", "--db", db])
    out, err = capsys.readouterr()
    assert (code, out, calls) == (1, "", [])
    assert err == (
        f"ecusim: error: {variable}: Input should be less than or equal to {BOUNDS[name][1]}\n"
    )
