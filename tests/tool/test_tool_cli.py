"""``ecusim tool`` end to end, in-process: the CLI on python-can's virtual bus against a car on
the same channel, and the portal over HTTP on 127.0.0.1.

The bulletin's flow: identify → reset (request sent, approval pending: exit 3) → a manager
approves → reset again (a new Seed Number, the approval reused) → register new keys with the
lab key messages → the new keys start the car, the old ones do not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import can
import httpx
import pytest

from ecusim.car.keys import Key, KeyKind
from ecusim.car.vehicle import Vehicle
from ecusim.cli.main import main
from ecusim.cli.tool_command import EXIT_CANCELLED, EXIT_PENDING
from tests.tool.tool_kit import PASSWORD, ServedPortal, ready_for_reset

TRANSPONDER = ("LS430", 2004)
SMART = ("LS460", 2012)
ECM_INTEGRATED = ("ES300", 1998)


def tool(channel: str, *args: str) -> list[str]:
    return ["tool", *args[:1], "-i", "virtual", "-c", channel, *args[1:]]


def reset_args(channel: str, portal: ServedPortal, *extra: str) -> list[str]:
    return tool(channel, "reset", "--portal", portal.url, "--user",
                portal.dealer.technician.username, *extra)  # fmt: skip


NEW_REQUEST = ("--repair-order", "RO-1", "--customer", "Smith", "--confirm-identification")


def request_approved(channel: str, portal: ServedPortal, *extra: str) -> None:
    """The first reset attempt sends the request (exit 3: approval pending); a manager
    approves it in the portal."""
    assert main(reset_args(channel, portal, *NEW_REQUEST, *extra)) == EXIT_PENDING
    portal.approve_all()


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECUSIM_PORTAL_PASSWORD", PASSWORD)


def _starts(car: Vehicle, key: Key) -> bool:
    car.withdraw_key()
    car.present_key(key)
    car.set_ignition("on")
    started = car.start_engine()
    car.set_ignition("off")
    car.withdraw_key()
    return started


def test_identify_reads_the_vin_and_the_key_system(
    running_car: Callable[..., Vehicle], channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    car = running_car(*TRANSPONDER)
    assert main(tool(channel, "identify")) == 0
    out = capsys.readouterr().out
    assert f"VIN read from the car: {car.vin}" in out
    assert "transponder key ECU (0x750 -> 0x758 ext 0x57)" in out
    assert f"ecusim tool: VIN {car.vin}; transponder key ECU; reset supported" in out


def test_identify_refuses_a_vin_that_is_not_the_cars(
    running_car: Callable[..., Vehicle], channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    car = running_car(*TRANSPONDER)
    other = "JTHBL5EF0C5000001"
    assert car.vin != other
    assert main(tool(channel, "identify", "--vin", other)) == 1
    assert f"the car's VIN is {car.vin}, not {other}" in capsys.readouterr().err


def test_identify_without_a_car_asks_for_model_and_year(
    channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(tool(channel, "identify")) == 1
    assert "give --model and --year" in capsys.readouterr().err


def test_identify_on_an_empty_bus_with_model_and_year_fails(
    channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing on the bus: the chart alone is no identification (it printed a positive one and
    exited 0)."""
    vin = "JTHBL5EF0C5000001"
    args = tool(channel, "identify", "--model", "LS430", "--year", "2004", "--vin", vin)
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "nothing answered on the bus" in captured.err
    assert "ecusim tool: VIN" not in captured.out


def test_full_procedure_on_a_transponder_car(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    car = running_car(*TRANSPONDER, time_scale=20.0)
    old_keys = car.factory_keys
    car.present_key(car.new_key("master"))  # any blank turns the cylinder
    car.set_ignition("on")

    # First attempt: no approval yet, the request goes to the managers, the tool exits 3.
    assert main(reset_args(channel, portal, *NEW_REQUEST, "--yes")) == EXIT_PENDING
    captured = capsys.readouterr()
    assert "sent to the dealer's approving managers" in captured.out
    assert "approval pending" in captured.err
    assert car.immobilizer is not None and car.immobilizer.key_count(KeyKind.MASTER) == 2

    (number,) = portal.approve_all()
    # Second attempt: the approval is reused (no request details needed), new Seed Number.
    assert main(reset_args(channel, portal, "--yes")) == 0
    out = capsys.readouterr().out
    assert f"approval {number} for VIN {car.vin} is valid until" in out
    assert "reset complete: every key code is erased" in out
    assert "flashes code 21" in out
    assert car.immobilizer.key_count(KeyKind.MASTER) == 0

    car.withdraw_key()
    assert main(tool(channel, "register-keys", "--lab-keys", "--lab-seed", "1", "--keys", "2",
                     "--subs", "1")) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "ecusim tool: registration done (2 master, 1 sub key(s) registered)" in out
    assert car.immobilizer.key_count(KeyKind.MASTER) == 2
    assert car.immobilizer.key_count(KeyKind.SUB) == 1
    new_keys = [Key(int(m, 16)) for m in _presented_ids(out)]
    assert len(new_keys) == 3
    assert all(_starts(car, key) for key in new_keys)
    assert not any(_starts(car, key) for key in old_keys)


@pytest.mark.parametrize("wait", ["0", "0.3"])
def test_a_pending_approval_prints_the_approval_file_and_inbox_urls(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
    wait: str,
) -> None:
    """Exit 3 at once or after ``--approval-wait``: the tool names the approval file's page and
    the manager's approval message (issue 13's URL plan), and both are the portal's pages."""
    ready_for_reset(running_car(*TRANSPONDER, time_scale=20.0))
    assert main(reset_args(channel, portal, *NEW_REQUEST, "--approval-wait", wait)) == EXIT_PENDING
    captured = capsys.readouterr()
    (request,) = portal.service.inbox(portal.dealer.technician.username).my_requests
    file_url, inbox_url = (
        f"{portal.url}/requests/{request.number}",
        f"{portal.url}/inbox/{request.number}",
    )
    assert f"approval file: {file_url} (a manager approves it at {inbox_url})" in captured.out
    assert f"approval file: {file_url}" in captured.err  # the exit-3 message repeats it
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(file_url)  # not logged in: the page sends the browser to log in
    assert page.status_code == 303 and page.headers["location"].startswith("/login"), page


def _presented_ids(out: str) -> list[str]:
    return re.findall(r"presenting new \w+ key \d+ \(\w+ key ([0-9A-F]{8})\)", out)


def test_declining_the_confirmation_erases_nothing(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    car = running_car(*TRANSPONDER, time_scale=20.0)
    ready_for_reset(car)
    request_approved(channel, portal)
    capsys.readouterr()
    assert main(reset_args(channel, portal)) == EXIT_CANCELLED  # no --yes, no terminal
    assert "reset cancelled: no key was erased" in capsys.readouterr().err
    assert car.immobilizer is not None and car.immobilizer.key_count(KeyKind.MASTER) == 2


def _audit_actions(portal: ServedPortal) -> list[str]:
    """Every action in the portal's audit log (its database), as a manager reads it."""
    manager = portal.dealer.managers[0].username
    return [record.action for record in portal.service.audit_records(manager, limit=1000)]


@pytest.mark.parametrize(
    "case",
    [
        ("ignition OFF", "the ignition is OFF: turn the ignition ON"),
        ("ignition ACC", "the ignition is ACC: turn the ignition ON"),
        ("moving", "the vehicle is moving (12.5 km/h): stop the vehicle"),
    ],
)
def test_reset_checks_the_conditions_before_asking_the_portal(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str],
) -> None:
    """Issue 14: with the ignition OFF the tool got a Pass-Code issued (an audited issue) and
    then failed with 0x22. Now it reads IGNITION_STATUS and VEHICLE_SPEED off the bus first and
    fails with the condition and its fix: no request, no issue in the portal's audit log."""
    condition, line = case
    car = ready_for_reset(running_car(*TRANSPONDER, time_scale=20.0))
    request_approved(channel, portal)  # an approval waits: only the car is not ready
    audited = _audit_actions(portal)
    if condition == "moving":
        car.set_speed(12.5)
    else:
        car.set_ignition("acc" if condition == "ignition ACC" else "off")
    capsys.readouterr()
    assert main(reset_args(channel, portal, "--yes")) == 1
    err = capsys.readouterr().err
    assert err.startswith("ecusim: error: the car is not ready for the reset"), err
    assert line in err
    assert "NRC" not in err  # the car was never asked to reset
    assert _audit_actions(portal) == audited  # nothing asked of the portal: no issue
    assert "issue" not in audited
    assert car.immobilizer is not None and car.immobilizer.key_count(KeyKind.MASTER) == 2


def test_a_new_request_is_not_sent_for_a_car_with_the_ignition_off(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first attempt, ignition OFF: no request reaches the managers (the audit log has
    none), and ``--json`` says which condition failed."""
    running_car(*TRANSPONDER, time_scale=20.0)
    audited = _audit_actions(portal)
    assert main(reset_args(channel, portal, *NEW_REQUEST, "--yes", "--json")) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["conditions"] == ["ignition"]
    assert document["nrc"] is None and document["exit_code"] == 1
    assert "turn the ignition ON" in document["error"]
    assert _audit_actions(portal) == audited
    assert portal.service.inbox(portal.dealer.technician.username).my_requests == ()


def test_the_ecu_s_own_0x22_is_still_explained_without_the_body_check(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--no-body-check`` (a bench ECU without body frames): the ECU's 0x22 is the answer."""
    running_car(*TRANSPONDER, time_scale=20.0)
    request_approved(channel, portal, "--no-body-check")
    capsys.readouterr()
    assert main(reset_args(channel, portal, "--yes", "--no-body-check")) == 1
    err = capsys.readouterr().err
    assert "the reset needs the ignition ON and the vehicle stopped" in err
    assert "(NRC 0x22 conditionsNotCorrect)" in err


def test_an_ecm_integrated_car_gets_the_spoc_answer(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    running_car(*ECM_INTEGRATED)
    assert main(reset_args(channel, portal, *NEW_REQUEST, "--yes")) == 1
    assert "refer to the most recent SPOC bulletin" in capsys.readouterr().err
    assert portal.service.inbox(portal.dealer.technician.username).my_requests == ()


def test_wrong_password_is_the_portals_answer(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ready_for_reset(running_car(*TRANSPONDER))
    monkeypatch.setenv("ECUSIM_PORTAL_PASSWORD", "not the password")
    assert main(reset_args(channel, portal, *NEW_REQUEST, "--yes")) == 1
    assert "portal login" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--repair-order", "RO-1"), "a new request needs --repair-order, --customer"),
        (("--model", "LS430"), "give --model and --year together"),
        (("--vin", "BADVIN"), "--vin: a VIN has 17 characters"),
        (("--model", "NOPE", "--year", "2004"), "unknown model 'NOPE'"),
        (("--tool-version", "9.9"), "--tool-version: scan-tool software 9.9 is too old"),
    ],
)
def test_bad_flags_are_exit_2(
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    assert main(reset_args(channel, portal, *args)) == 2
    assert message in capsys.readouterr().err


def test_smart_key_registration_with_lab_keys(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    car = running_car(*SMART, time_scale=500.0)  # the 960 s waiting period in about 2 s
    car.set_ignition("on")
    request_approved(channel, portal, "--approval-wait", "0")
    assert main(reset_args(channel, portal, "--yes", "--system", "smart")) == 0
    assert car.certification is not None and car.certification.key_count == 0
    capsys.readouterr()
    assert main(tool(channel, "register-keys", "--lab-keys", "--keys", "2")) == 0
    out = capsys.readouterr().out
    (waited,) = [line for line in out.splitlines() if line.startswith("  waiting period ")]
    assert "100%" in waited and waited.endswith("registration open")  # one line in a pipe
    assert "ecusim tool: registration done (2 smart key(s) registered)" in out
    assert car.certification.key_count == 2


def test_choosing_the_wrong_utility_is_refused(
    running_car: Callable[..., Vehicle], channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    running_car(*SMART)
    assert main(tool(channel, "identify", "--system", "immobilizer")) == 1
    assert "choose --system smart" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--keys", "0"), "register at least one key"),
        ((), "someone at the car must present each key"),  # no terminal, no --lab-keys
    ],
)
def test_register_keys_usage_errors(
    channel: str, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert main(tool(channel, "register-keys", *args)) == 2
    assert message in capsys.readouterr().err


def test_model_and_year_that_contradict_the_car_are_refused(
    running_car: Callable[..., Vehicle], channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    running_car(*TRANSPONDER)
    assert main(tool(channel, "identify", "--model", "LS460", "--year", "2012")) == 1
    err = capsys.readouterr().err
    assert "the car reports a transponder key ECU system" in err
    assert "smart key for LS460 2012" in err


def test_smart_registration_with_the_ignition_off_is_explained(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    car = running_car(*SMART, time_scale=500.0)
    car.set_ignition("on")
    request_approved(channel, portal)
    assert main(reset_args(channel, portal, "--yes")) == 0
    car.set_ignition("off")
    capsys.readouterr()
    assert main(tool(channel, "register-keys", "--lab-keys")) == 1
    err = capsys.readouterr().err
    assert "ignition ON and vehicle stopped" in err
    assert "(NRC 0x22 conditionsNotCorrect)" in err


def test_register_keys_unlocks_level_0x01_with_the_secret_file_s_key(
    running_car: Callable[..., Vehicle],
    channel: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A car with a secret file refuses the public lab level 0x01 key (7F 27 35); the tool given
    the same file (docs/secrets.md) registers."""
    secret = tmp_path / "car.secrets.toml"
    assert main(["secret", "new", str(secret)]) == 0
    car = running_car(*SMART, time_scale=500.0, secrets=secret)
    car.install_blank_key_ecu()  # no smart key: registration opens after the waiting period
    car.set_ignition("on")
    assert car.certification is not None
    before = car.certification.key_count
    capsys.readouterr()
    assert main(tool(channel, "register-keys", "--lab-keys", "--keys", "1")) == 1
    err = capsys.readouterr().err
    assert "NRC 0x35" in err, err
    assert car.certification.key_count == before
    registered = tool(channel, "register-keys", "--lab-keys", "--keys", "1", "--secret-file",
                      str(secret))  # fmt: skip
    assert main(registered) == 0, capsys.readouterr()
    assert "registration done (1 smart key(s) registered)" in capsys.readouterr().out
    assert car.certification.key_count == before + 1


def test_identify_reports_key_counts_and_registration_mode(
    running_car: Callable[..., Vehicle], channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """What one needs after an interrupted reset: the registered keys per kind and the mode,
    from DIDs 0x0106/0x0107 and 0x0109; ``--json`` gives the same as data, alone on stdout."""
    car = running_car(*TRANSPONDER)
    assert car.immobilizer is not None
    masters = car.immobilizer.key_count(KeyKind.MASTER)
    subs = car.immobilizer.key_count(KeyKind.SUB)
    assert main(tool(channel, "identify")) == 0
    out = capsys.readouterr().out
    counts = f"registered keys: {masters} master, {subs} sub; registration mode: normal (0)"
    assert f"ecusim tool: VIN {car.vin}; transponder key ECU; reset supported; {counts}" in out
    assert main(tool(channel, "identify", "--json")) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["vin"] == car.vin and document["vin_read"] is True
    assert document["system"] == "immobilizer" and document["reset_supported"] is True
    assert document["keys"] == {"master": masters, "sub": subs}
    assert (document["registration_mode"], document["registration_mode_name"]) == (0, "normal")
    assert "VIN read from the car" in captured.err  # the narration went to stderr


def test_every_tool_command_speaks_json(
    running_car: Callable[..., Vehicle],
    channel: str,
    portal: ServedPortal,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--json``: stdout is one JSON document (``json.loads`` of all of it) for the pending
    request (exit 3, its number), the reset (the request number, the final state), the
    identification after it (no keys, the waiting period running) and the registration."""
    car = running_car(*SMART, time_scale=500.0)
    car.set_ignition("on")
    assert main(reset_args(channel, portal, *NEW_REQUEST, "--json")) == EXIT_PENDING
    pending = json.loads(capsys.readouterr().out)
    (number,) = portal.approve_all()
    assert pending["request_number"] == number and pending["nrc"] is None
    assert pending["exit_code"] == EXIT_PENDING and "approval pending" in pending["error"]

    assert main(reset_args(channel, portal, "--yes", "--json")) == 0
    reset = json.loads(capsys.readouterr().out)
    assert reset["command"] == "reset" and reset["vin"] == car.vin
    assert reset["request_number"] == number
    assert reset["outcome"]["keys_left"] == 0
    assert reset["final"]["keys"] == {"smart": 0}
    assert reset["final"]["registration_mode_name"] in {
        "waiting period running",
        "registration open",
    }
    assert "Check the car's conditions" in [step["step"] for step in reset["steps"]]

    assert main(tool(channel, "identify", "--json")) == 0
    identified = json.loads(capsys.readouterr().out)
    assert identified["keys"] == {"smart": 0}
    assert identified["registration_mode"] in {3, 4}

    assert main(tool(channel, "register-keys", "--lab-keys", "--keys", "2", "--json")) == 0
    registered = json.loads(capsys.readouterr().out)
    assert registered["registered"] == {"smart": 2} and len(registered["presented"]) == 2
    assert registered["final"]["keys"] == {"smart": 2}
    assert car.certification is not None and car.certification.key_count == 2


def test_a_refusal_in_json_carries_the_nrc(
    running_car: Callable[..., Vehicle], channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    running_car(*SMART, time_scale=500.0)  # ignition OFF: registration is refused with 0x22
    assert main(tool(channel, "register-keys", "--lab-keys", "--json")) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["nrc"] == 0x22 and document["exit_code"] == 1
    assert "(NRC 0x22 conditionsNotCorrect)" in document["error"]
    assert captured.err.rstrip().endswith(f"ecusim: error: {document['error']}")


def test_bad_arguments_in_json_are_exit_2_with_an_error_document(
    channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(tool(channel, "identify", "--model", "LS430", "--json")) == 2
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "error": "give --model and --year together",
        "nrc": None,
        "exit_code": 2,
        "steps": [],
    }


def test_identify_finds_a_moved_key_ecu_with_the_cars_profile(
    channel: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A car whose certification ECU sits at 0x740 → 0x748 (ext 0x47), not the chart's 0x750:
    without its profile nothing answers the key-system DID and the tool says where it asked
    (it printed a bare "no immobilizer"); with ``--car`` it asks the profile's addresses."""
    assert main(["models", "--export", *map(str, SMART)]) == 0
    exported = capsys.readouterr().out
    moved = exported.replace('request = "0x750"', 'request = "0x740"')
    moved = moved.replace('response = "0x758"', 'response = "0x748"')
    moved = moved.replace('extended_address = "0xB5"', 'extended_address = "0x47"')
    assert moved.count("0x74") == 2 and "0x47" in moved
    profile = tmp_path / "moved.toml"
    profile.write_text(moved, encoding="utf-8")
    car = Vehicle.from_profile(profile, seed=7)
    bus = can.Bus(interface="virtual", channel=channel)
    car.start(bus)
    try:
        assert main(tool(channel, "identify")) == 0
        captured = capsys.readouterr()
        assert "no ECU answered the key-system DID 0x010A (asked at 0x750" in captured.out
        assert "give --car FILE" in captured.out
        assert main(tool(channel, "identify", "--car", str(profile), "--json")) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["vin"] == car.vin and document["system"] == "smart"
        assert document["keys"] == {"smart": 2}
        assert main(tool(channel, "identify", "--car", str(profile), "--model", "LS460")) == 2
        assert "--car: the profile names the model and year" in capsys.readouterr().err
    finally:
        car.stop()
        bus.shutdown()
