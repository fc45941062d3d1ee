"""The body-network DBC against its contract (docs/body-network.md) and the dbc.body helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can
import cantools
import pytest
from cantools.database.can import Database, Signal
from hypothesis import given
from hypothesis import strategies as st

from dbc import body

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "body-network.md"
DIAGNOSTIC_CONTRACT = ROOT / "docs" / "diagnostic-contract.md"
REPO_DBC = ROOT / "dbc" / "ecusim_body.dbc"

NODES = {
    "BODY",
    "IMMOBILIZER",
    "ECM",
    "KEYLESS_RECEIVER",
    "TESTER",
    "CERTIFICATION",
    "STEERING_LOCK",
}
DIAGNOSTIC_ID_FLOOR = 0x700
CLASSIC: dict[str, Any] = {"is_extended_id": False}  # python-can defaults to 29-bit IDs

_SIGNAL = re.compile(r"`(?P<name>\w+)`(?:\s*\((?P<note>[^)]*)\))?")
_CHOICE = re.compile(r"(?P<value>\d+) (?P<text>.+)")
_BIT_WIDTH = re.compile(r"(?P<bits>\d+) bit")
_FACTOR_UNIT = re.compile(r"(?:(?P<factor>\d+(?:\.\d+)?) )?(?P<unit>km/h|rpm|s)\b")


@dataclass(frozen=True)
class ContractMessage:
    """One row of a message table in docs/body-network.md."""

    frame_id: int
    name: str
    cycle_ms: int | None  # None: lab control, sent on demand
    on_event_too: bool  # "... and on each command"
    sender: str
    receiver: str | None  # "IMMOBILIZER → ECM"
    signals: dict[str, str | None]  # signal name → its parenthesised note


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _parse_contract() -> list[ContractMessage]:
    messages: list[ContractMessage] = []
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| 0x"):
            continue
        cells = _cells(line)
        signals = {match["name"]: match["note"] for match in _SIGNAL.finditer(cells[-1])}
        name = cells[1].strip("`")
        if len(cells) == 5:  # broadcast table: ID | message | cycle | sender | signals
            cycle = re.match(r"(\d+) ms", cells[2])
            assert cycle is not None, line
            sender, _, receiver = cells[3].partition("→")
            messages.append(
                ContractMessage(
                    frame_id=int(cells[0], 16),
                    name=name,
                    cycle_ms=int(cycle[1]),
                    on_event_too="on each" in cells[2],
                    sender=sender.strip(),
                    receiver=receiver.strip() or None,
                    signals=signals,
                )
            )
        else:  # lab control table: ID | message | signals, sent by any CAN tool
            assert len(cells) == 3, line
            messages.append(
                ContractMessage(int(cells[0], 16), name, None, True, "TESTER", None, signals)
            )
    return messages


def _parse_choices(note: str) -> dict[int, str] | None:
    """``0 OFF, 1 ACC, 2 ON, 3 START = crank`` → {0: "OFF", ..., 3: "START"}; None if no list.

    A trailing ``= explanation`` is commentary in the contract, not part of the choice name.
    """
    parts = [_CHOICE.fullmatch(part.strip()) for part in note.split(",")]
    if len(parts) < 2 or not all(parts):
        return None
    return {
        int(part["value"]): part["text"].split(" = ")[0].strip()
        for part in parts
        if part is not None
    }


def _diagnostic_did_choices(did: int) -> dict[int, str]:
    """The value list of a 1-byte DID in docs/diagnostic-contract.md (``1 byte: 0 normal, ...``)."""
    for line in DIAGNOSTIC_CONTRACT.read_text(encoding="utf-8").splitlines():
        cells = _cells(line)
        if len(cells) >= 3 and cells[0] == f"0x{did:04X}":
            choices = _parse_choices(cells[2].removeprefix("1 byte:"))
            assert choices is not None, line
            return choices
    raise AssertionError(f"DID 0x{did:04X} not in {DIAGNOSTIC_CONTRACT}")


def _expected_choices(note: str | None) -> dict[int, str] | None:
    if note is None:
        return None
    did = re.fullmatch(r"as DID (0x[0-9A-Fa-f]{4})", note)
    if did is not None:
        return _diagnostic_did_choices(int(did[1], 16))
    return _parse_choices(note)


def _choices(signal: Signal) -> dict[int, str] | None:
    return None if signal.choices is None else {k: str(v) for k, v in signal.choices.items()}


CONTRACT_MESSAGES = _parse_contract()
CONTRACT_BY_NAME = {message.name: message for message in CONTRACT_MESSAGES}


@pytest.fixture(scope="module")
def db() -> Database:
    return body.load_body_database()


# --- the file itself -------------------------------------------------------------------------


def test_contract_parsed() -> None:
    assert len(CONTRACT_MESSAGES) == 15
    assert sum(message.cycle_ms is None for message in CONTRACT_MESSAGES) == 6


@pytest.mark.parametrize("path", [body.BODY_DBC_PATH, REPO_DBC], ids=["package", "repo"])
def test_dbc_loads_strictly(path: Path) -> None:
    assert path.is_absolute() and path.is_file()
    database = cantools.database.load_file(path, database_format="dbc", strict=True)
    assert isinstance(database, Database)
    assert [message.name for message in database.messages] == list(body.MESSAGE_NAMES)


def test_database_is_loaded_once(db: Database) -> None:
    assert body.load_body_database() is db


def test_nodes(db: Database) -> None:
    assert {node.name for node in db.nodes} == NODES
    assert all(node.comment for node in db.nodes)


def test_ids_are_lab_ids_below_diagnostics_and_unique(db: Database) -> None:
    frame_ids = [message.frame_id for message in db.messages]
    assert len(set(frame_ids)) == len(frame_ids)
    assert all(frame_id < DIAGNOSTIC_ID_FLOOR for frame_id in frame_ids)


def test_every_message_is_a_classic_8_byte_intel_frame(db: Database) -> None:
    for message in db.messages:
        assert not message.is_extended_frame and not message.is_fd, message.name
        assert message.length == 8, message.name
        for signal in message.signals:
            assert signal.byte_order == "little_endian", (message.name, signal.name)
            assert not signal.is_signed, (message.name, signal.name)
            assert signal.minimum is not None and signal.maximum is not None, signal.name


def test_every_message_and_signal_is_commented_and_marked_lab(db: Database) -> None:
    assert db.buses and db.buses[0].comment is not None
    assert db.buses[0].comment.startswith("[LAB]")
    for message in db.messages:
        assert message.comment is not None and message.comment.startswith("[LAB]"), message.name
        for signal in message.signals:
            assert signal.comment, (message.name, signal.name)


# --- the file against the contract ------------------------------------------------------------


def test_message_table_matches_contract(db: Database) -> None:
    assert [(m.frame_id, m.name) for m in db.messages] == [
        (m.frame_id, m.name) for m in CONTRACT_MESSAGES
    ]


@pytest.mark.parametrize("expected", CONTRACT_MESSAGES, ids=lambda m: m.name)
def test_message_matches_contract(db: Database, expected: ContractMessage) -> None:
    message = db.get_message_by_name(expected.name)
    assert message.frame_id == expected.frame_id
    assert message.senders == [expected.sender]
    if expected.receiver is not None:
        assert expected.receiver in message.receivers
    assert message.cycle_time == expected.cycle_ms
    if expected.cycle_ms is None:
        send_type = "Event"
    else:
        send_type = "CyclicAndEvent" if expected.on_event_too else "Cyclic"
    assert message.send_type == send_type
    assert [signal.name for signal in message.signals] == list(expected.signals)


@pytest.mark.parametrize("expected", CONTRACT_MESSAGES, ids=lambda m: m.name)
def test_signals_match_contract_notes(db: Database, expected: ContractMessage) -> None:
    message = db.get_message_by_name(expected.name)
    for name, note in expected.signals.items():
        signal = message.get_signal_by_name(name)
        choices = _expected_choices(note)
        if choices is not None:
            assert _choices(signal) == choices, name
            assert (signal.minimum, signal.maximum) == (min(choices), max(choices)), name
        elif signal.choices is not None:
            raise AssertionError(f"{expected.name}.{name} has choices the contract lacks")
        if note is None:
            continue
        width = _BIT_WIDTH.fullmatch(note)
        if width is not None:
            assert signal.length == int(width["bits"]), name
        unit = _FACTOR_UNIT.match(note)
        if unit is not None:
            assert signal.unit == unit["unit"], name
            if unit["factor"] is not None:
                assert signal.scale == float(unit["factor"]), name
        full_range = re.search(r"(\d+(?:\.\d+)?)\u2013(\d+(?:\.\d+)?)", note)
        if full_range is not None:
            assert signal.minimum == float(full_range[1]), name
            assert signal.maximum == float(full_range[2]), name


def test_periodic_and_control_split_follows_the_contract(db: Database) -> None:
    periodic = tuple(m.name for m in CONTRACT_MESSAGES if m.cycle_ms is not None)
    control = tuple(m.name for m in CONTRACT_MESSAGES if m.cycle_ms is None)
    assert body.periodic_messages() == periodic
    assert body.control_messages() == control
    assert all(name.startswith("LAB_") and name.endswith("_CMD") for name in control)
    assert set(periodic) | set(control) == {message.name for message in db.messages}


@pytest.mark.parametrize("expected", CONTRACT_MESSAGES, ids=lambda m: m.name)
def test_cycle_time_s(expected: ContractMessage) -> None:
    if expected.cycle_ms is None:
        assert body.cycle_time_s(expected.name) is None
    else:
        assert body.cycle_time_s(expected.name) == pytest.approx(expected.cycle_ms / 1000)


def test_cycle_time_s_of_unknown_message() -> None:
    with pytest.raises(body.BodyMessageError, match="NO_SUCH_MESSAGE"):
        body.cycle_time_s("NO_SUCH_MESSAGE")


# --- dump / reload round trip ----------------------------------------------------------------


def _signal_summary(signal: Signal) -> tuple[Any, ...]:
    return (
        signal.name,
        signal.start,
        signal.length,
        signal.byte_order,
        signal.is_signed,
        signal.scale,
        signal.offset,
        signal.minimum,
        signal.maximum,
        signal.unit,
        _choices(signal),
        signal.comment,
        sorted(signal.receivers),
    )


def _database_summary(database: Database) -> list[tuple[Any, ...]]:
    return [
        (
            message.frame_id,
            message.name,
            message.length,
            message.senders,
            message.cycle_time,
            message.send_type,
            message.comment,
            [_signal_summary(signal) for signal in message.signals],
        )
        for message in database.messages
    ]


def test_dump_reload_round_trip(db: Database) -> None:
    reloaded = cantools.database.load_string(db.as_dbc_string(), database_format="dbc", strict=True)
    assert isinstance(reloaded, Database)
    assert _database_summary(reloaded) == _database_summary(db)
    assert [bus.comment for bus in reloaded.buses] == [bus.comment for bus in db.buses]
    assert {(n.name, n.comment) for n in reloaded.nodes} == {(n.name, n.comment) for n in db.nodes}


# --- encode / decode -------------------------------------------------------------------------


def _raw_bounds(signal: Signal) -> tuple[int, int]:
    assert signal.minimum is not None and signal.maximum is not None
    raw_minimum = round((signal.minimum - signal.offset) / signal.scale)
    raw_maximum = round((signal.maximum - signal.offset) / signal.scale)
    return raw_minimum, raw_maximum


@pytest.mark.parametrize("name", body.MESSAGE_NAMES)
@given(data=st.data())
def test_encode_decode_round_trip(name: str, data: st.DataObject) -> None:
    message = body.load_body_database().get_message_by_name(name)
    raw = data.draw(
        st.fixed_dictionaries(
            {signal.name: st.integers(*_raw_bounds(signal)) for signal in message.signals}
        )
    )
    physical = {
        signal.name: raw[signal.name] * signal.scale + signal.offset for signal in message.signals
    }

    frame = body.encode_message(name, physical)

    assert frame.arbitration_id == message.frame_id
    assert not frame.is_extended_id and not frame.is_fd
    assert frame.dlc == 8 and len(frame.data) == 8
    assert message.decode(bytes(frame.data), decode_choices=False, scaling=False) == raw
    decoded = body.decode_message(frame)
    assert decoded is not None
    decoded_name, values = decoded
    assert decoded_name == name
    assert values == pytest.approx(physical)


@pytest.mark.parametrize("name", body.MESSAGE_NAMES)
def test_missing_signals_default_to_zero(name: str) -> None:
    frame = body.encode_message(name, {})
    assert bytes(frame.data) == bytes(8)
    decoded = body.decode_message(frame)
    assert decoded is not None
    assert set(decoded[1].values()) == {0}


def test_named_choices_encode_like_their_numbers(db: Database) -> None:
    for message in db.messages:
        for signal in message.signals:
            for value, choice in (signal.choices or {}).items():
                by_name = body.encode_message(message.name, {signal.name: str(choice)})
                by_number = body.encode_message(message.name, {signal.name: value})
                assert by_name.data == by_number.data, (message.name, signal.name, choice)


def test_decoded_values_stay_numbers() -> None:
    frame = body.encode_message(
        body.IGNITION_STATUS, {"IgnitionState": "START", "KeyInserted": True}
    )
    assert body.decode_message(frame) == (
        body.IGNITION_STATUS,
        {"IgnitionState": 3, "KeyInserted": 1, "BrakePressed": 0, "RollingCounter": 0},
    )


def test_speed_is_scaled() -> None:
    frame = body.encode_message(body.VEHICLE_SPEED, {"VehicleSpeed": 123.45})
    assert bytes(frame.data[:2]) == (12345).to_bytes(2, "little")
    decoded = body.decode_message(frame)
    assert decoded is not None
    assert decoded[1]["VehicleSpeed"] == pytest.approx(123.45)


@pytest.mark.parametrize(
    "frame",
    [
        # 0x7E8: ECM positive response to DiagnosticSessionControl (0x50), extended session
        can.Message(arbitration_id=0x7E8, data=bytes([2, 0x50, 3, 0, 0, 0, 0, 0]), **CLASSIC),
        # 0x7DF: functional DiagnosticSessionControl request (0x10), extended session
        can.Message(arbitration_id=0x7DF, data=bytes([2, 0x10, 3, 0, 0, 0, 0, 0]), **CLASSIC),
        # a 29-bit frame whose number happens to be IGNITION_STATUS's 11-bit ID
        can.Message(arbitration_id=0x1A0, data=bytes(8), is_extended_id=True),
        can.Message(arbitration_id=0x1A0, is_remote_frame=True, dlc=8, **CLASSIC),
    ],
    ids=["diagnostic-response", "functional-request", "extended-id", "remote-frame"],
)
def test_frames_outside_the_dbc_decode_to_none(frame: can.Message) -> None:
    assert body.decode_message(frame) is None


def test_short_body_frame_is_an_error() -> None:
    frame = can.Message(arbitration_id=0x1A0, data=bytes(3), **CLASSIC)
    with pytest.raises(body.BodyMessageError, match="IGNITION_STATUS") as error:
        body.decode_message(frame)
    assert error.value.message_name == body.IGNITION_STATUS


@pytest.mark.parametrize(
    ("name", "signals", "signal_name"),
    [
        (body.VEHICLE_SPEED, {"VehicleSpeed": 655.36}, "VehicleSpeed"),
        (body.VEHICLE_SPEED, {"VehicleSpeed": -0.01}, "VehicleSpeed"),
        (body.VEHICLE_SPEED, {"VehicleSpeed": float("nan")}, "VehicleSpeed"),
        (body.VEHICLE_SPEED, {"VehicleSpeed": "fast"}, "VehicleSpeed"),
        (body.ENGINE_STATUS, {"EngineSpeed": 16384}, "EngineSpeed"),
        (body.IMMOBILIZER_STATUS, {"RegistrationMode": 5}, "RegistrationMode"),
        (body.IMMOBILIZER_STATUS, {"MasterKeys": 16}, "MasterKeys"),
        (body.IGNITION_STATUS, {"KeyInserted": 2}, "KeyInserted"),
        (body.IGNITION_STATUS, {"RollingCounter": 16}, "RollingCounter"),
        (body.IGNITION_STATUS, {"IgnitionState": "CRANK"}, "IgnitionState"),
        (body.LAB_DOOR_CMD, {"Door": 5}, "Door"),
        (body.LAB_BRAKE_CMD, {"BrakeAction": 3}, "BrakeAction"),
        (body.LAB_KEY_CMD, {"TransponderId": 2**32}, "TransponderId"),
        (body.LAB_KEY_CMD, {"Transponder": 1}, "Transponder"),
    ],
)
def test_invalid_values_raise_body_message_error(
    name: str, signals: dict[str, float | int | str], signal_name: str
) -> None:
    with pytest.raises(body.BodyMessageError) as error:
        body.encode_message(name, signals)
    assert isinstance(error.value, ValueError)
    assert (error.value.message_name, error.value.signal_name) == (name, signal_name)
    assert name in str(error.value) and signal_name in str(error.value)


def test_unknown_message_raises_body_message_error() -> None:
    with pytest.raises(body.BodyMessageError, match="LAB_HORN_CMD") as error:
        body.encode_message("LAB_HORN_CMD", {})
    assert error.value.signal_name is None
