"""Acceptance 2: the bulletin's reset procedure across two processes.

A python-can-remote hub (127.0.0.1) bridges a virtual bus; ``ecusim run -i remote`` runs the
LS430 2004 in a subprocess; this process is the scan tool: udsoncan over the hub for UDS, the
shipped DBC's lab control messages for the physical inputs (key, ignition, brake) and the car's
broadcasts (ENGINE_STATUS, IMMOBILIZER_STATUS, IGNITION_STATUS) to observe the results.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from dbc import body
from ecusim.car.keys import KeyKind
from ecusim.car.vehicle import Vehicle
from tests.acceptance.acceptance_kit import (
    DID_VIN,
    EXTENDED_SESSION,
    LEVEL_IMMOBILIZER_RESET,
    MODEL,
    REGISTRATION_AUTOMATIC,
    REGISTRATION_NORMAL,
    RID_RESET,
    VIN,
    YEAR,
    Signals,
    Starter,
    Tester,
    ecusim_run_args,
    factory_keys_printed,
    key_counts,
    registered_keys_printed,
    registration_mode,
    start_ecusim,
)

IGNITION_OFF = 0
IGNITION_ON = 2
IGNITION_START = 3
KEY_WITHDRAW = 0
KEY_INSERT = 1
BRAKE_PRESS_AND_RELEASE = 2

NEW_MASTER_KEYS = (0x1ACCE551, 0x1BADC0DE)
"""Transponder IDs of two new master blanks (top hex digit 1: master)."""
NEW_SUB_KEY = 0x2FEEDBEE
"""Transponder ID of a new sub (valet) blank (top hex digit 2: sub)."""


class Car:
    """The car in the other process, seen from the scan tool: lab control messages out,
    broadcasts in."""

    def __init__(self, tester: Tester) -> None:
        self.tester = tester
        self.monitor = tester.monitor

    def insert_key(self, transponder_id: int) -> None:
        self.tester.send(
            body.LAB_KEY_CMD, {"KeyAction": KEY_INSERT, "TransponderId": transponder_id}
        )

    def withdraw_key(self) -> None:
        self.tester.send(body.LAB_KEY_CMD, {"KeyAction": KEY_WITHDRAW})

    def ignition(self, command: int) -> None:
        self.tester.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": command})

    def press_brake(self) -> None:
        self.tester.send(body.LAB_BRAKE_CMD, {"BrakeAction": BRAKE_PRESS_AND_RELEASE})

    def ignition_on_with(self, transponder_id: int) -> None:
        """Key in, ignition ON, and wait until the car says so (the lab control messages and
        UDS travel separately: a request must not overtake them)."""
        self.insert_key(transponder_id)
        self.ignition(IGNITION_ON)
        self.monitor.wait_for(
            body.IGNITION_STATUS,
            lambda s: s["IgnitionState"] == IGNITION_ON and s["KeyInserted"] == 1,
            "ignition ON with a key in",
        )

    def try_start(self, transponder_id: int) -> bool:
        """Key in, ON, START; the verdict is the ENGINE_STATUS of this start attempt (its
        StartAttempts counter has moved on). The key is withdrawn again (engine stops)."""
        before = self.monitor.wait_for(body.ENGINE_STATUS, lambda s: True, "engine status")
        attempts = int(before["StartAttempts"])
        self.ignition_on_with(transponder_id)
        self.ignition(IGNITION_START)
        after = self.monitor.wait_for(
            body.ENGINE_STATUS,
            lambda s: int(s["StartAttempts"]) == (attempts + 1) & 0xFF,
            "the start attempt",
        )
        self.withdraw_key()
        self.monitor.wait_for(
            body.ENGINE_STATUS, lambda s: s["EngineRunning"] == 0, "the engine stopped"
        )
        self.monitor.wait_for(
            body.IGNITION_STATUS, lambda s: s["KeyInserted"] == 0, "the key withdrawn"
        )
        return bool(after["EngineRunning"])

    def wait_for_keys(self, masters: int, subs: int, mode: int) -> Signals:
        return self.monitor.wait_for(
            body.IMMOBILIZER_STATUS,
            lambda s: (
                (s["MasterKeys"], s["SubKeys"], s["RegistrationMode"]) == (masters, subs, mode)
            ),
            f"{masters} masters, {subs} subs, registration mode {mode}",
        )


@pytest.mark.slow
def test_bulletin_reset_across_two_processes(
    processes: Starter, hub_url: str, remote_tester: Tester, tmp_path: Path
) -> None:
    node = start_ecusim(
        processes, ecusim_run_args("remote", hub_url, "--state-dir", str(tmp_path / "state"))
    )
    printed = "\n".join(node.lines)
    assert "0x750 -> 0x758 ext 0x57" in printed  # the immobilizer's addresses
    factory_keys = factory_keys_printed(node.lines)
    # The same keys as the embedding API's car of that VIN.
    assert factory_keys == list(Vehicle.from_catalog(MODEL, YEAR, VIN).factory_keys)
    factory_master = next(key for key in factory_keys if key.kind is KeyKind.MASTER)
    masters = sum(key.kind is KeyKind.MASTER for key in factory_keys)
    subs = len(factory_keys) - masters
    new_keys = [*NEW_MASTER_KEYS, NEW_SUB_KEY]
    assert not set(new_keys) & {key.transponder_id for key in factory_keys}

    car = Car(remote_tester)
    client = remote_tester.client()
    car.wait_for_keys(masters, subs, REGISTRATION_NORMAL)
    assert key_counts(client) == (masters, subs)
    assert car.try_start(factory_master.transponder_id) is True  # positive control

    # The bulletin: key in, ignition ON; VIN, extended session, Seed Number, Pass-Code, reset.
    car.ignition_on_with(factory_master.transponder_id)
    assert client.read_data_by_identifier_first(DID_VIN) == VIN
    client.change_session(EXTENDED_SESSION)
    unlocked = client.unlock_security_access(LEVEL_IMMOBILIZER_RESET)  # kit's Pass-Code algo
    assert unlocked is not None and unlocked.positive
    reset = client.start_routine(RID_RESET)  # 0x78 while erasing: udsoncan waits
    assert reset is not None and reset.positive

    car.wait_for_keys(0, 0, REGISTRATION_AUTOMATIC)
    assert key_counts(client) == (0, 0)
    assert registration_mode(client) == REGISTRATION_AUTOMATIC
    car.withdraw_key()
    car.monitor.wait_for(body.IGNITION_STATUS, lambda s: s["KeyInserted"] == 0, "key withdrawn")

    # Automatic registration: insert and withdraw each new key, then the brake 5 times.
    for registered, transponder_id in enumerate(new_keys, start=1):
        car.insert_key(transponder_id)
        car.withdraw_key()
        car.wait_for_keys(min(registered, 2), max(0, registered - 2), REGISTRATION_AUTOMATIC)
    for _ in range(5):
        car.press_brake()
    car.wait_for_keys(2, 1, REGISTRATION_NORMAL)
    assert key_counts(client) == (2, 1)
    assert registration_mode(client) == REGISTRATION_NORMAL

    for transponder_id in new_keys:
        assert car.try_start(transponder_id) is True, f"new key {transponder_id:08X}"
    for key in factory_keys:
        assert car.try_start(key.transponder_id) is False, f"old factory {key}"

    assert node.stop(signal.SIGTERM) == 0

    # A restart prints the keys registered now, with their kind: the bench tester's next key.
    restarted = start_ecusim(
        processes, ecusim_run_args("remote", hub_url, "--state-dir", str(tmp_path / "state"))
    )
    printed_now = registered_keys_printed(restarted.lines)
    assert sorted(key.transponder_id for key in printed_now) == sorted(new_keys)
    assert any(f"master {NEW_MASTER_KEYS[0]:08X}" in line for line in restarted.lines)
    assert any(f"sub {NEW_SUB_KEY:08X}" in line for line in restarted.lines)
    assert restarted.stop(signal.SIGTERM) == 0
