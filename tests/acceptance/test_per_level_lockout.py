"""Issue 11, finding 3, written as the attack: the level-0x11 lockout cannot be walked around
with the public level-0x01 key (diagnostic-contract.md §3: each level keeps its own failed-attempt
counter, "last attempt failed" flag and delay).

The attacker sits on the bus, from outside: ``ecusim run --state-dir`` behind a python-can-remote
hub bound to 127.0.0.1, a scan tool sending raw UDS bytes. After every wrong Pass-Code it unlocks
level 0x01 with the lab key anyone can compute (§5), which used to clear the one shared counter.
Now level 0x11 answers ``35 35 36`` and then ``7F 27 37`` until its delay ends, also after the car
is killed with SIGKILL and started again on the same state folder.

The car runs on real time (``--time-scale 1``): the 10 s delay outlasts the exchanges by far and
the test waits on the car's answers, never on a clock.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Final

import pytest
from udsoncan.client import Client

from protocol.passcode import diagnostic_key
from tests.acceptance.acceptance_kit import (
    EXTENDED_SESSION_REQUEST,
    EXTENDED_SESSION_RESPONSE,
    REQUEST_TIMEOUT_S,
    VIN,
    Process,
    Starter,
    Tester,
    ecusim_run_args,
    start_ecusim,
    wrong_pass_code,
)

DELAY_END_TIMEOUT_S: Final = 60.0
"""Generous bound for the 10 s delay to run out (a busy 2-core box)."""

TESTER_PRESENT = bytes(
    [
        0x3E,  # TesterPresent (restarts S3)
        0x00,  # zeroSubFunction
    ]
)
TESTER_PRESENT_RESPONSE = bytes(
    [
        0x7E,  # TesterPresent positive response
        0x00,  # zeroSubFunction
    ]
)
REQUEST_SEED_DIAG = bytes(
    [
        0x27,  # SecurityAccess
        0x01,  # requestSeed, level 0x01 "extended diagnostics" (public lab key)
    ]
)
SEED_DIAG_HEADER = bytes(
    [
        0x67,  # SecurityAccess positive response
        0x01,  # requestSeed level 0x01, followed by the 4-byte seed
    ]
)
SEND_KEY_DIAG_HEADER = bytes(
    [
        0x27,  # SecurityAccess
        0x02,  # sendKey level 0x01, followed by the 4-byte key
    ]
)
DIAG_KEY_ACCEPTED = bytes(
    [
        0x67,  # SecurityAccess positive response
        0x02,  # sendKey level 0x01
    ]
)
REQUEST_SEED_RESET = bytes(
    [
        0x27,  # SecurityAccess
        0x11,  # requestSeed, level 0x11 "immobilizer reset" (the Seed Number)
    ]
)
SEED_RESET_HEADER = bytes(
    [
        0x67,  # SecurityAccess positive response
        0x11,  # requestSeed level 0x11, followed by the 16-byte Seed Number
    ]
)
SEND_KEY_RESET_HEADER = bytes(
    [
        0x27,  # SecurityAccess
        0x12,  # sendKey level 0x11, followed by the 16-byte Pass-Code
    ]
)
READ_SECURITY_STATUS = bytes(
    [
        0x22,  # ReadDataByIdentifier
        0x01,  # DID 0x010C high byte
        0x0C,  # DID 0x010C low byte: security access status
    ]
)
SECURITY_STATUS_HEADER = bytes(
    [
        0x62,  # ReadDataByIdentifier positive response
        0x01,  # DID 0x010C high byte
        0x0C,  # DID 0x010C low byte, then per level: level, failed attempts, delay (2 bytes, s)
    ]
)
INVALID_KEY = bytes(
    [
        0x7F,  # negative response
        0x27,  # SecurityAccess
        0x35,  # invalidKey
    ]
)
EXCEEDED_NUMBER_OF_ATTEMPTS = bytes(
    [
        0x7F,  # negative response
        0x27,  # SecurityAccess
        0x36,  # exceededNumberOfAttempts: the level's delay starts
    ]
)
TIME_DELAY_NOT_EXPIRED = bytes(
    [
        0x7F,  # negative response
        0x27,  # SecurityAccess
        0x37,  # requiredTimeDelayNotExpired
    ]
)


def ask(client: Client, request: bytes) -> bytes:
    """Send raw UDS bytes to the immobilizer; its answer."""
    client.conn.empty_rxqueue()
    client.conn.send(request)
    response = client.conn.wait_frame(timeout=REQUEST_TIMEOUT_S, exception=True)
    assert response is not None
    return bytes(response)


def unlock_level_01(client: Client) -> None:
    """The attacker's free move: level 0x01 with the public lab key (diagnostic-contract.md §5)."""
    response = ask(client, REQUEST_SEED_DIAG)
    assert response[:2] == SEED_DIAG_HEADER and len(response) == 6, response.hex()
    seed = response[2:]
    assert ask(client, SEND_KEY_DIAG_HEADER + diagnostic_key(seed)) == DIAG_KEY_ACCEPTED


def wrong_pass_code_answer(client: Client) -> bytes:
    """requestSeed 0x11, then sendKey 0x12 with a wrong 16-byte Pass-Code; the sendKey answer."""
    response = ask(client, REQUEST_SEED_RESET)
    assert response[:2] == SEED_RESET_HEADER and len(response) == 18, response.hex()
    return ask(client, SEND_KEY_RESET_HEADER + wrong_pass_code(VIN, response[2:]))


def reset_level_status(client: Client) -> tuple[int, int]:
    """(failed attempts, delay seconds left) of level 0x11 from DID 0x010C."""
    response = ask(client, READ_SECURITY_STATUS)
    assert response[:3] == SECURITY_STATUS_HEADER, response.hex()
    records = response[3:]  # per level: level, failed attempts, delay (2 bytes)
    assert len(records) % 4 == 0, response.hex()
    for i in range(0, len(records), 4):
        if records[i] == 0x11:
            return records[i + 1], int.from_bytes(records[i + 2 : i + 4], "big")
    pytest.fail(f"DID 0x010C has no record of level 0x11: {response.hex()}")


def attack(client: Client) -> None:
    """Wrong level-0x11 Pass-Codes, each followed by a right level-0x01 key."""
    answers = []
    for _ in range(3):
        # 10 03 again re-locks level 0x01 (diagnostic-contract.md §2), so its key is asked anew
        assert ask(client, EXTENDED_SESSION_REQUEST) == EXTENDED_SESSION_RESPONSE
        answers.append(wrong_pass_code_answer(client))
        unlock_level_01(client)  # used to clear the one shared counter
    assert answers == [
        INVALID_KEY,  # 1st wrong Pass-Code: 7F 27 35
        INVALID_KEY,  # 2nd: 7F 27 35, although level 0x01 was unlocked in between
        EXCEEDED_NUMBER_OF_ATTEMPTS,  # 3rd: 7F 27 36, level 0x11's delay starts
    ]
    assert ask(client, REQUEST_SEED_RESET) == TIME_DELAY_NOT_EXPIRED  # 27 11 → 7F 27 37


def wait_for_the_delay_to_end(client: Client) -> bytes:
    """Keep the session (TesterPresent) and ask 27 11 until it is not 7F 27 37; that answer."""
    deadline = time.monotonic() + DELAY_END_TIMEOUT_S
    while True:
        assert ask(client, TESTER_PRESENT) == TESTER_PRESENT_RESPONSE
        response = ask(client, REQUEST_SEED_RESET)
        if response != TIME_DELAY_NOT_EXPIRED:
            return response
        if time.monotonic() > deadline:
            pytest.fail(f"level 0x11 still answers 7F 27 37 after {DELAY_END_TIMEOUT_S} s")
        time.sleep(0.1)


@pytest.mark.slow
def test_the_public_level_01_key_does_not_clear_the_level_11_lockout_even_across_a_kill(
    processes: Starter, hub_url: str, remote_tester: Tester, tmp_path: Path
) -> None:
    args = ecusim_run_args(
        "remote", hub_url, "--state-dir", str(tmp_path / "state"), "--time-scale", "1"
    )
    node: Process = start_ecusim(processes, args)
    client = remote_tester.client()
    attack(client)
    assert reset_level_status(client)[0] == 3  # level 0x11: 3 failed attempts

    assert node.stop(signal.SIGKILL) == -signal.SIGKILL  # kill -9
    start_ecusim(processes, args)  # the same state folder

    attempts, remaining_s = reset_level_status(client)
    assert attempts == 3 and remaining_s > 0  # still counted, boot delay running
    assert ask(client, EXTENDED_SESSION_REQUEST) == EXTENDED_SESSION_RESPONSE
    assert ask(client, REQUEST_SEED_RESET) == TIME_DELAY_NOT_EXPIRED  # 27 11 → 7F 27 37
    unlock_level_01(client)  # level 0x01's last attempt succeeded: it is not delayed
    assert ask(client, REQUEST_SEED_RESET) == TIME_DELAY_NOT_EXPIRED  # 0x01 cleared nothing
    assert ask(client, EXTENDED_SESSION_REQUEST) == EXTENDED_SESSION_RESPONSE  # re-lock 0x01

    response = wait_for_the_delay_to_end(client)
    assert response[:2] == SEED_RESET_HEADER and len(response) == 18, response.hex()
