"""Acceptance 3: wrong Pass-Codes lock the immobilizer's reset level out
(diagnostic-contract.md §3): 1st and 2nd wrong key → 0x35, 3rd → 0x36 and a 10 s delay during which
requestSeed → 0x37; DID 0x010C reports the counter and the delay. The lockout survives a power cycle
and killing the ``ecusim run`` process (SIGKILL): after the restart, requestSeed answers 0x37 (boot
delay).

The in-process tests drive the immobilizer's pure UDS server with a FakeClock (deterministic);
the process test runs ``ecusim run --state-dir`` behind a python-can-remote hub.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from ecusim.car.vehicle import Vehicle
from protocol.clock import FakeClock
from protocol.constants import Addressing
from protocol.seed_source import DeterministicSeedSource
from tests.acceptance.acceptance_kit import (
    DID_SECURITY_STATUS,
    EXTENDED_SESSION,
    EXTENDED_SESSION_REQUEST,
    EXTENDED_SESSION_RESPONSE,
    LEVEL_IMMOBILIZER_RESET,
    MODEL,
    VIN,
    YEAR,
    Starter,
    Tester,
    ecusim_run_args,
    nrc_of,
    pass_code,
    read_dids,
    start_ecusim,
    wrong_pass_code,
)

REQUEST_SEED = bytes(
    [
        0x27,  # SecurityAccess
        0x11,  # requestSeed, level "immobilizer reset"
    ]
)
SEED_RESPONSE_HEADER = bytes(
    [
        0x67,  # SecurityAccess positive response
        0x11,  # requestSeed level 0x11, followed by the 16-byte Seed Number
    ]
)
SEND_KEY_HEADER = bytes(
    [
        0x27,  # SecurityAccess
        0x12,  # sendKey, level "immobilizer reset", followed by the 16-byte Pass-Code
    ]
)
KEY_ACCEPTED = bytes(
    [
        0x67,  # SecurityAccess positive response
        0x12,  # sendKey level 0x12
    ]
)
TESTER_PRESENT = bytes(
    [
        0x3E,  # TesterPresent (restarts S3: 5 s)
        0x00,  # zeroSubFunction
    ]
)
TESTER_PRESENT_RESPONSE = bytes(
    [
        0x7E,  # TesterPresent positive response
        0x00,  # zeroSubFunction
    ]
)
READ_SECURITY_STATUS = bytes(
    [
        0x22,  # ReadDataByIdentifier
        0x01,  # DID 0x010C high byte
        0x0C,  # DID 0x010C low byte: security access status
    ]
)


def security_access_nrc(nrc: int) -> bytes:
    return bytes(
        [
            0x7F,  # negative response
            0x27,  # SecurityAccess
            nrc,  # the negative response code
        ]
    )


def security_status(attempts: int, delay_s: int) -> bytes:
    """``62 01 0C``: level 0x01 clean, level 0x11 with ``attempts`` and ``delay_s`` left."""
    return bytes(
        [
            0x62,  # ReadDataByIdentifier positive response
            0x01,  # DID 0x010C high byte
            0x0C,  # DID 0x010C low byte
            0x01,  # record 1: level 0x01 (extended diagnostics)
            0x00,  # level 0x01: no failed attempt
            0x00,  # level 0x01: delay remaining, seconds, high byte
            0x00,  # level 0x01: delay remaining, seconds, low byte: none
            LEVEL_IMMOBILIZER_RESET,  # record 2: level 0x11 (immobilizer reset)
            attempts,  # level 0x11: failed attempts
            delay_s >> 8,  # level 0x11: delay remaining, seconds, high byte
            delay_s & 0xFF,  # level 0x11: delay remaining, seconds, low byte
        ]
    )


class PureImmobilizer:
    """The immobilizer's UDS server of a FakeClock-driven car, called with bytes directly."""

    def __init__(self, clock: FakeClock, state_dir: Path | None = None) -> None:
        self.clock = clock
        self.car = Vehicle.from_catalog(
            MODEL,
            YEAR,
            VIN,
            state_dir=state_dir,
            clock=clock,
            seed_source=DeterministicSeedSource(17),
        )
        assert self.car.immobilizer is not None

    def ask(self, request: bytes) -> bytes:
        immobilizer = self.car.immobilizer
        assert immobilizer is not None
        response = immobilizer.server.handle(request, Addressing.PHYSICAL, self.clock.now())
        assert response is not None, f"no response to {request.hex()}"
        return response

    def seed(self) -> bytes:
        response = self.ask(REQUEST_SEED)
        assert response[:2] == SEED_RESPONSE_HEADER, response.hex()
        seed = response[2:]
        assert len(seed) == 16 and seed != bytes(16)
        return seed

    def wrong_attempt(self) -> bytes:
        """requestSeed, then sendKey with a wrong Pass-Code; the sendKey response."""
        return self.ask(SEND_KEY_HEADER + wrong_pass_code(VIN, self.seed()))

    def lock_out(self) -> None:
        """Three wrong Pass-Codes: 0x35, 0x35, 0x36, the counter on DID 0x010C."""
        assert self.ask(EXTENDED_SESSION_REQUEST) == EXTENDED_SESSION_RESPONSE
        assert self.ask(READ_SECURITY_STATUS) == security_status(0, 0)
        assert self.wrong_attempt() == security_access_nrc(0x35)  # invalidKey
        assert self.ask(READ_SECURITY_STATUS) == security_status(1, 0)
        assert self.wrong_attempt() == security_access_nrc(0x35)  # invalidKey
        assert self.ask(READ_SECURITY_STATUS) == security_status(2, 0)
        assert self.wrong_attempt() == security_access_nrc(0x36)  # exceededNumberOfAttempts
        assert self.ask(READ_SECURITY_STATUS) == security_status(3, 10)


def test_three_wrong_pass_codes_lock_out_for_ten_seconds() -> None:
    clock = FakeClock()
    immobilizer = PureImmobilizer(clock)
    immobilizer.lock_out()

    # The 10 s delay, on the vehicle clock; TesterPresent keeps the session (S3 = 5 s).
    for step_s, remaining_s in ((0.0, 10), (4.0, 6), (4.0, 2), (1.5, 1)):
        clock.advance(step_s)
        assert immobilizer.ask(TESTER_PRESENT) == TESTER_PRESENT_RESPONSE
        assert immobilizer.ask(REQUEST_SEED) == security_access_nrc(0x37)  # timeDelayNotExpired
        assert immobilizer.ask(READ_SECURITY_STATUS) == security_status(3, remaining_s)

    clock.advance(0.5)  # 10.0 s after the 3rd wrong key
    seed = immobilizer.seed()
    assert immobilizer.ask(SEND_KEY_HEADER + pass_code(VIN, seed)) == KEY_ACCEPTED
    assert immobilizer.ask(READ_SECURITY_STATUS) == security_status(0, 0)


def test_the_lockout_survives_a_power_cycle_from_the_state_directory(tmp_path: Path) -> None:
    clock = FakeClock()
    PureImmobilizer(clock, tmp_path / "state").lock_out()

    powered_again = PureImmobilizer(clock, tmp_path / "state")  # same NVM, new ECU objects
    assert powered_again.ask(READ_SECURITY_STATUS) == security_status(3, 10)
    assert powered_again.ask(EXTENDED_SESSION_REQUEST) == EXTENDED_SESSION_RESPONSE
    assert powered_again.ask(REQUEST_SEED) == security_access_nrc(0x37)  # boot delay
    clock.advance(4.0)
    assert powered_again.ask(REQUEST_SEED) == security_access_nrc(0x37)
    clock.advance(4.0)
    assert powered_again.ask(TESTER_PRESENT) == TESTER_PRESENT_RESPONSE
    clock.advance(2.0)  # the 10 s boot delay is over
    seed = powered_again.seed()
    assert powered_again.ask(SEND_KEY_HEADER + pass_code(VIN, seed)) == KEY_ACCEPTED


@pytest.mark.slow
def test_the_lockout_survives_killing_the_process(
    processes: Starter, hub_url: str, remote_tester: Tester, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    # Real time (--time-scale 1): the 10 s boot delay outlasts the restart by far.
    args = ecusim_run_args(
        "remote", hub_url, "--state-dir", str(state_dir), "--time-scale", "1", "--duration", "60"
    )
    node = start_ecusim(processes, args)
    client = remote_tester.client()
    client.change_session(EXTENDED_SESSION)
    for expected in (0x35, 0x35, 0x36):  # invalidKey, invalidKey, exceededNumberOfAttempts
        seed_response = client.request_seed(LEVEL_IMMOBILIZER_RESET)
        assert seed_response is not None
        seed = bytes(seed_response.service_data.seed)
        assert len(seed) == 16
        wrong = wrong_pass_code(VIN, seed)
        assert nrc_of(client.send_key, LEVEL_IMMOBILIZER_RESET + 1, wrong) == expected
    status = read_dids(client, DID_SECURITY_STATUS)[DID_SECURITY_STATUS]
    attempts, remaining_s = status[LEVEL_IMMOBILIZER_RESET]
    assert attempts == 3 and 0 < remaining_s <= 10

    assert node.stop(signal.SIGKILL) == -signal.SIGKILL
    start_ecusim(processes, args)

    status = read_dids(client, DID_SECURITY_STATUS)[DID_SECURITY_STATUS]
    attempts, remaining_s = status[LEVEL_IMMOBILIZER_RESET]
    assert attempts == 3 and 0 < remaining_s <= 10
    client.change_session(EXTENDED_SESSION)
    assert nrc_of(client.request_seed, LEVEL_IMMOBILIZER_RESET) == 0x37  # boot delay
