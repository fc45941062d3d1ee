"""The reset utility (bulletin Sections 3 and 6) over UDS (diagnostic-contract.md §3-4).

The car's conditions first (ignition ON and vehicle stopped from the body frames, the key system
answering: :mod:`~ecusim.tool.conditions`), then extended session (0x10 03) → Seed Number
(0x27 11, 16 bytes) → Pass-Code from the portal while TesterPresent keeps the session → sendKey
(0x27 12) → the technician confirms → routine 0x0201 (the ECU answers 0x78 while it erases) →
the result. A requestSeed refused with 0x37 (the security delay after failed attempts, ISO
14229-1 §10.4) is waited out once with a progress bar, using the seconds left from DID 0x010C.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from udsoncan.client import Client

from ecusim.catalog import SystemType
from ecusim.tool.conditions import check_reset_conditions
from ecusim.tool.console import Console
from ecusim.tool.contract import (
    DEFAULT_SESSION,
    DID_MASTER_KEYS,
    DID_REGISTRATION_MODE,
    DID_SECURITY_INDICATOR,
    DID_SECURITY_STATUS,
    DID_SMART_KEYS,
    DID_SUB_KEYS,
    DID_WAITING_PERIOD,
    EXTENDED_SESSION,
    INDICATOR_FLASHING_CODE,
    LEVEL_RESET,
    RID_RESET,
    STATUS_DONE,
    security_status,
)
from ecusim.tool.errors import CancelledError, CarRefusedError, ToolError
from ecusim.tool.identify import CarIdentity
from ecusim.tool.link import DiagnosticLink, routine_record
from ecusim.tool.portal_steps import PassCodeSource
from ecusim.tool.targets import Target
from protocol.constants import Nrc
from protocol.passcode import PASS_CODE_LENGTH, SEED_NUMBER_LENGTH, format_code

DELAY_POLL_S: Final = 0.25


@dataclass(frozen=True)
class ResetOutcome:
    seed: bytes
    pass_code: bytes
    keys_left: int
    """Registered keys after the reset (0 when it worked)."""
    registration_mode: int
    """DID 0x0109: 1 automatic registration (transponder), 3 waiting period (smart)."""
    waiting_period_s: int
    """DID 0x010B: seconds before smart key registration opens (0 for transponder cars)."""
    indicator: tuple[int, int]
    """DID 0x0108: mode and flash code (transponder: 3, 21 = ready for new keys)."""


def _seed_of(client: Client) -> bytes:
    response = client.request_seed(LEVEL_RESET)
    return bytes(response.service_data.seed)


class ResetUtility:
    """One reset attempt on the identified car."""

    def __init__(
        self,
        link: DiagnosticLink,
        console: Console,
        identity: CarIdentity,
        passcodes: PassCodeSource,
        *,
        body_check: bool = True,
    ) -> None:
        self.link = link
        self.console = console
        self.identity = identity
        self.passcodes = passcodes
        self.body_check = body_check
        """Whether the ignition and speed are read from the body frames (off: a bench ECU
        without the body network; the ECU still refuses with 0x22)."""
        self._conditions_checked = False

    def check_conditions(self) -> None:
        """The reset's conditions (:func:`~ecusim.tool.conditions.check_reset_conditions`),
        before anything is asked of the portal; :meth:`run` checks them if not done yet."""
        self.console.step("Check the car's conditions")
        check_reset_conditions(self.link, self.identity, body_check=self.body_check)
        shown = "ignition ON, vehicle stopped, " if self.body_check else ""
        self.console.info(f"{shown}key system answering: ready for the reset")
        self._conditions_checked = True

    def run(self) -> ResetOutcome:
        target = self.identity.require_reset()
        if not self._conditions_checked:
            self.check_conditions()
        system = "Smart Key" if self.identity.system_type is SystemType.SMART_KEY else "Immobilizer"
        self.console.step(f"{system} Reset utility: VIN {self.identity.vin}")
        self._open_session(target)
        seed = self._seed(target)
        self.console.info(f"Seed Number: {format_code(seed)}")
        with self.link.keep_alive(target) as car_alive:
            code = self.passcodes.pass_code_for(self.identity.vin, seed, self.console, car_alive)
        if len(code) != PASS_CODE_LENGTH:
            raise ToolError(f"the Pass-Code must be {PASS_CODE_LENGTH} bytes, got {len(code)}")
        self.console.step("Enter the Pass-Code")
        self.console.info(f"Pass-Code: {format_code(code)}")
        self.link.call(
            target, "sending the Pass-Code",
            lambda c: c.send_key(LEVEL_RESET + 1, code), context="passcode",
        )  # fmt: skip
        self.console.info("the car accepted the Pass-Code")
        with self.link.keep_alive(target):
            go = self.console.confirm(
                f"Reset erases ALL registered keys of VIN {self.identity.vin}. Start the reset?"
            )
        if not go:
            self.link.call(
                target, "closing the session", lambda c: c.change_session(DEFAULT_SESSION)
            )
            raise CancelledError("reset cancelled: no key was erased")
        return self._reset(target, seed, code)

    def _open_session(self, target: Target) -> None:
        self.link.call(
            target, "opening the extended session",
            lambda c: c.change_session(EXTENDED_SESSION), context="reset",
        )  # fmt: skip

    def _seed(self, target: Target) -> bytes:
        try:
            seed = self.link.call(target, "reading the Seed Number", _seed_of, context="seed")
        except CarRefusedError as exc:
            if exc.nrc != Nrc.REQUIRED_TIME_DELAY_NOT_EXPIRED:
                raise
            self._wait_security_delay(target)
            self._open_session(target)  # the wait may have outlasted S3
            seed = self.link.call(target, "reading the Seed Number", _seed_of, context="seed")
        if len(seed) != SEED_NUMBER_LENGTH:
            raise ToolError(
                f"the car sent a {len(seed)}-byte Seed Number; the contract's is "
                f"{SEED_NUMBER_LENGTH} bytes"
            )
        if seed == bytes(SEED_NUMBER_LENGTH):
            raise ToolError(
                "the car says the reset level is already unlocked (all-zero seed): close the "
                "session and run the utility again for a fresh Seed Number"
            )
        return seed

    def _wait_security_delay(self, target: Target) -> None:
        """Wait out the reset level's delay after failed Pass-Codes, shown from DID 0x010C."""
        attempts, remaining = self._reset_level_status(target)
        self.console.warn(
            f"{attempts} failed Pass-Code attempt(s): the ECU's security delay has "
            f"{remaining} s left"
        )
        total = max(remaining, 1)
        progress = self.console.progress("security delay", total)
        deadline = time.monotonic() + 3 * total + 5
        while remaining > 0:
            if time.monotonic() > deadline:
                raise ToolError("the ECU's security delay does not run out: power-cycle the car")
            time.sleep(DELAY_POLL_S)
            _, remaining = self._reset_level_status(target)
            progress.update(max(0, total - remaining))
        progress.finish("over")

    def _reset_level_status(self, target: Target) -> tuple[int, int]:
        """(failed attempts, delay seconds left) of the reset level, from DID 0x010C."""
        raw = self.link.read(target, DID_SECURITY_STATUS, "reading the security status")
        try:
            entry = security_status(raw).get(LEVEL_RESET)
        except ValueError as exc:
            raise ToolError(f"the car's security status {raw.hex()} is malformed: {exc}") from exc
        if entry is None:
            raise ToolError(
                f"the car's security status {raw.hex()} has no entry for level 0x{LEVEL_RESET:02X}"
            )
        return entry.failed_attempts, entry.delay_remaining_s

    def _reset(self, target: Target, seed: bytes, code: bytes) -> ResetOutcome:
        self.console.step("Reset")
        self.console.info("erasing every key code (the ECU answers 'response pending' meanwhile)")
        self.link.call(
            target, "starting the reset", lambda c: c.start_routine(RID_RESET), context="reset"
        )
        results = self.link.call(
            target, "reading the reset result",
            lambda c: c.get_routine_result(RID_RESET), context="reset",
        )  # fmt: skip
        record = routine_record(results)
        if not record or record[0] != STATUS_DONE:
            raise ToolError(f"the reset did not complete (routine status {record.hex() or '-'})")
        smart = self.identity.system_type is SystemType.SMART_KEY
        if smart:
            keys = self.link.read_byte(target, DID_SMART_KEYS)
        else:
            keys = self.link.read_byte(target, DID_MASTER_KEYS) + self.link.read_byte(
                target, DID_SUB_KEYS
            )
        mode = self.link.read_byte(target, DID_REGISTRATION_MODE)
        waiting = int.from_bytes(
            self.link.read(target, DID_WAITING_PERIOD, "reading the waiting period"), "big"
        )
        indicator_raw = self.link.read(target, DID_SECURITY_INDICATOR, "reading the indicator")
        indicator = (indicator_raw[0], indicator_raw[1])
        if keys:
            raise ToolError(f"the reset ran but {keys} key(s) are still registered")
        self.console.info("reset complete: every key code is erased")
        if smart:
            self.console.info(
                f"Smart Key Code Registration opens after the waiting period ({waiting} s)"
            )
        elif indicator[0] == INDICATOR_FLASHING_CODE and indicator[1]:
            self.console.info(
                f"the security indicator flashes code {indicator[1]}: the immobilizer is ready "
                "for new keys (automatic registration)"
            )
        return ResetOutcome(seed, code, keys, mode, waiting, indicator)
