"""Keyless entry through the Vehicle API and the bus: the 1992 SC400's ROM receiver (factory
remotes, KEYLESS_ENTRY, LAB_REMOTE_CMD, refused learning, ROM swap kept across a restart) and the
LS430 2004's programmable receiver (learning, 4 slots)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from dbc import body
from ecusim.car.keyless import (
    KeylessCommand,
    KeylessError,
    LearnRefusedError,
    Remote,
    RemoteButton,
)
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import SystemType
from ecusim.systems.registry import KEY_SYSTEMS
from protocol.clock import FakeClock

ANSWER_TIMEOUT_S = 3.0
"""Real-time bound of every wait for a frame (the body thread turns every 10 ms)."""
KEYLESS_ENTRY_ID = 0x2D0
STRANGER = Remote(0x0BADC0DE)

needs_sc400 = pytest.mark.skipif(
    SystemType.NONE not in KEY_SYSTEMS,
    reason="the 'none' key system (1992 SC400) is not simulated yet",
)


def _sc400(state_dir: Path | None = None, seed: int = 1) -> Vehicle:
    return Vehicle.from_catalog("SC400", 1992, state_dir=state_dir, clock=FakeClock(), seed=seed)


def _ls430(state_dir: Path | None = None, seed: int = 1) -> Vehicle:
    return Vehicle.from_catalog("LS430", 2004, state_dir=state_dir, clock=FakeClock(), seed=seed)


@pytest.fixture
def channel() -> str:
    return f"keyless-{uuid.uuid4().hex}"


@pytest.fixture
def observer(channel: str) -> Iterator[can.BusABC]:
    """A second virtual bus on the car's channel: a CAN tool."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


@pytest.fixture
def car_bus(channel: str) -> Iterator[can.BusABC]:
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


def _keyless_entry(tool: can.BusABC, counter: int) -> dict[str, int]:
    """The first KEYLESS_ENTRY frame with ``CommandCounter == counter``, decoded with the DBC."""
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while (remaining := deadline - time.monotonic()) > 0:
        message = tool.recv(timeout=min(remaining, 0.1))
        if message is None or message.arbitration_id != KEYLESS_ENTRY_ID:
            continue
        decoded = body.decode_message(message)
        assert decoded is not None
        name, values = decoded
        assert name == body.KEYLESS_ENTRY
        if values["CommandCounter"] == counter:
            return {signal: int(value) for signal, value in values.items()}
    raise AssertionError(f"no KEYLESS_ENTRY with CommandCounter {counter} within the deadline")


def _press_over_bus(tool: can.BusABC, remote: Remote, button: RemoteButton) -> None:
    tool.send(
        body.encode_message(body.LAB_REMOTE_CMD, {"RemoteCode": remote.code, "Button": int(button)})
    )


def _answer(
    doors_locked: bool, command: KeylessCommand, accepted: bool, counter: int
) -> dict[str, int]:
    return {
        "DoorsLocked": int(doors_locked),
        "LastCommand": int(command),
        "Accepted": int(accepted),
        "CommandCounter": counter,
    }


# -- the 1992 SC400: ROM receiver ---------------------------------------------------------------


@needs_sc400
def test_sc400_factory_remotes_unlock_and_lock() -> None:
    car = _sc400()
    assert len(car.remotes) == 2  # its two masters' remotes [S, domain.md §8]
    rom = car.keyless.receiver.rom
    assert rom is not None and rom.part_number == "89705-50944"
    for remote in car.remotes:
        result = car.press_remote(remote, "lock")
        assert (result.command, result.accepted) == (KeylessCommand.LOCK, True)
        assert car.physical.doors_locked
        result = car.press_remote(remote, RemoteButton.UNLOCK)
        assert (result.command, result.accepted) == (KeylessCommand.UNLOCK, True)
        assert not car.physical.doors_locked
    result = car.press_remote(STRANGER, 0)  # lock, from a remote the ROM does not list
    assert not result.accepted and not car.physical.doors_locked


@needs_sc400
def test_sc400_keyless_entry_is_broadcast_and_decodes_with_the_dbc(
    car_bus: can.BusABC, observer: can.BusABC
) -> None:
    car = _sc400()
    with car.running(car_bus):
        car.press_remote(car.remotes[0], "lock")
        assert _keyless_entry(observer, 1) == _answer(True, KeylessCommand.LOCK, True, 1)
        car.press_remote(STRANGER, "unlock")
        assert _keyless_entry(observer, 2) == _answer(True, KeylessCommand.UNLOCK, False, 2)
        car.press_remote(car.remotes[1], "panic")
        assert _keyless_entry(observer, 3) == _answer(True, KeylessCommand.PANIC, True, 3)


@needs_sc400
def test_sc400_obeys_lab_remote_cmd_from_another_bus(
    car_bus: can.BusABC, observer: can.BusABC
) -> None:
    car = _sc400()
    remote = car.remotes[1]
    with car.running(car_bus):
        _press_over_bus(observer, remote, RemoteButton.LOCK)
        assert _keyless_entry(observer, 1) == _answer(True, KeylessCommand.LOCK, True, 1)
        assert car.physical.doors_locked
        _press_over_bus(observer, STRANGER, RemoteButton.UNLOCK)
        assert _keyless_entry(observer, 2) == _answer(True, KeylessCommand.UNLOCK, False, 2)
        assert car.physical.doors_locked
        _press_over_bus(observer, remote, RemoteButton.UNLOCK)
        assert _keyless_entry(observer, 3) == _answer(False, KeylessCommand.UNLOCK, True, 3)
        assert not car.physical.doors_locked


@needs_sc400
def test_sc400_ignores_a_zero_code_on_the_bus(car_bus: can.BusABC, observer: can.BusABC) -> None:
    car = _sc400()
    with car.running(car_bus):
        observer.send(body.encode_message(body.LAB_REMOTE_CMD, {"RemoteCode": 0, "Button": 1}))
        _press_over_bus(observer, car.remotes[0], RemoteButton.LOCK)
        # The zero code was no remote command: the next one is the first counted.
        assert _keyless_entry(observer, 1) == _answer(True, KeylessCommand.LOCK, True, 1)


@needs_sc400
def test_sc400_refuses_to_learn_any_remote() -> None:
    car = _sc400()
    for remote in (STRANGER, car.remotes[0]):
        with pytest.raises(LearnRefusedError, match="swap the ROM"):
            car.learn_remote(remote)
    assert not car.press_remote(STRANGER, "unlock").accepted
    assert car.press_remote(car.remotes[0], "unlock").accepted


@needs_sc400
def test_sc400_new_rom_kit_is_seeded_and_not_installed() -> None:
    car = _sc400(seed=4)
    rom, remotes = car.new_rom_kit()
    assert rom.part_number == "89705-50944" and len(remotes) == 2
    assert (rom, remotes) == _sc400(seed=4).new_rom_kit()
    three, _ = car.new_rom_kit(3)
    assert three.part_number == "89705-50945"
    assert car.keyless.receiver.rom != rom, "buying a kit does not install it"
    assert not car.press_remote(remotes[0], "unlock").accepted


@needs_sc400
def test_sc400_rom_swap_survives_a_restart_from_the_state_dir(
    tmp_path: Path, car_bus: can.BusABC, observer: can.BusABC
) -> None:
    car = _sc400(tmp_path)
    factory = car.remotes
    rom, remotes = car.new_rom_kit(3)
    car.swap_rom(rom)
    assert car.remotes == remotes
    assert not car.press_remote(factory[0], "unlock").accepted
    assert car.press_remote(remotes[2], "lock").accepted

    restarted = _sc400(tmp_path, seed=99)
    assert restarted.keyless.receiver.rom == rom
    assert restarted.remotes == remotes
    with restarted.running(car_bus):
        _press_over_bus(observer, factory[0], RemoteButton.UNLOCK)
        assert _keyless_entry(observer, 1)["Accepted"] == 0, "the old remotes stay useless"
        _press_over_bus(observer, factory[1], RemoteButton.UNLOCK)
        assert _keyless_entry(observer, 2)["Accepted"] == 0
        for counter, remote in enumerate(remotes, start=3):
            _press_over_bus(observer, remote, RemoteButton.LOCK)
            assert _keyless_entry(observer, counter) == _answer(
                True, KeylessCommand.LOCK, True, counter
            )
    with pytest.raises(LearnRefusedError):
        restarted.learn_remote(factory[0])


# -- the LS430 2004: programmable receiver -------------------------------------------------------


def test_ls430_learns_a_third_remote() -> None:
    car = _ls430()
    assert len(car.remotes) == 2 and car.keyless.receiver.rom is None
    third = STRANGER
    assert not car.press_remote(third, "unlock").accepted
    car.learn_remote(third)
    assert car.press_remote(third, "lock").accepted and car.physical.doors_locked
    for remote in car.remotes:
        assert car.press_remote(remote, "unlock").accepted
    with pytest.raises(KeylessError, match="programmable"):
        car.swap_rom(car.new_rom_kit(1)[0])


def test_ls430_fifth_remote_drops_the_oldest_and_the_slots_survive_a_restart(
    tmp_path: Path, car_bus: can.BusABC, observer: can.BusABC
) -> None:
    car = _ls430(tmp_path)
    oldest, second = car.remotes
    extra = [Remote(0x11111111), Remote(0x22222222), Remote(0x33333333)]
    for remote in extra:
        car.learn_remote(remote)
    assert car.keyless.receiver.learnt_codes == (second.code, *(r.code for r in extra))
    assert not car.press_remote(oldest, "unlock").accepted
    assert car.press_remote(second, "unlock").accepted

    restarted = _ls430(tmp_path)
    with restarted.running(car_bus):
        _press_over_bus(observer, oldest, RemoteButton.UNLOCK)
        assert _keyless_entry(observer, 1)["Accepted"] == 0
        _press_over_bus(observer, extra[2], RemoteButton.LOCK)
        assert _keyless_entry(observer, 2) == _answer(True, KeylessCommand.LOCK, True, 2)
