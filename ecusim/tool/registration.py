"""The key registration utilities after a reset (bulletin Section 1; domain.md).

- Transponder key ECU, automatic registration (DID 0x0109 = 1 after a reset): each new key is
  inserted in turn, first a master; the tool watches DIDs 0x0106/0x0107 and ends the mode with
  routine 0x0203.
- Smart key: routine 0x0206 ("Smart Key Code Registration", level 0x01) is started; the tool
  shows the waiting period (DID 0x010B, vehicle time) as a progress bar while its polls keep the
  session, then each new key is touched to the engine switch while it watches DID 0x010D, and
  the routine is stopped.

Who handles the keys is a :class:`KeyPresenter`: the technician (prompted), the lab control
messages of the shipped DBC (a virtual car in another process), or a test or demo holding the
:class:`~ecusim.car.vehicle.Vehicle`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final, Protocol

from udsoncan.client import Client

from ecusim.catalog import SystemType
from ecusim.tool.console import Console
from ecusim.tool.contract import (
    DID_MASTER_KEYS,
    DID_REGISTRATION_MODE,
    DID_SECURITY_INDICATOR,
    DID_SMART_KEYS,
    DID_SUB_KEYS,
    EXTENDED_SESSION,
    INDICATOR_FLASHING_CODE,
    LEVEL_DIAGNOSTIC,
    MODE_AUTOMATIC,
    MODE_OPEN,
    RID_END_AUTOMATIC_REGISTRATION,
    RID_SMART_KEY_REGISTRATION,
)
from ecusim.tool.errors import ToolError
from ecusim.tool.identify import CarIdentity
from ecusim.tool.link import DiagnosticLink, routine_record
from ecusim.tool.targets import Target
from protocol.passcode import DEFAULT_DIAG_KEY, diagnostic_key

POLL_S: Final = 0.2
"""Real seconds between two reads while waiting (each read also keeps the session)."""
KEY_WAIT_S: Final = 30.0
"""How long the tool waits for one key to be registered."""
FAILURE_CODES: Final = {
    21: "registration failed (2-1): a sub key first, or the key was not read",
    22: "this key is already registered (2-2)",
    23: "no more keys can be registered (2-3)",
}
"""Flash codes of the security indicator on a failed registration (domain.md)."""


class KeyPresenter(Protocol):
    """Brings the new keys to the car, one at a time."""

    def present(self, number: int, kind: str, where: str) -> None:
        """New key ``number`` (1-based) of ``kind`` (``master``, ``sub``, ``smart``) goes
        ``where`` (``cylinder``: inserted, ignition ON; ``switch``: touched to the engine
        switch)."""

    def withdraw(self) -> None:
        """The key just presented is taken away."""


class PromptPresenter:
    """The technician handles the keys; the tool tells them what to do and waits for Enter."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def present(self, number: int, kind: str, where: str) -> None:
        action = (
            f"Insert new {kind} key {number} into the ignition and turn it ON"
            if where == "cylinder"
            else f"Touch new smart key {number} to the engine switch"
        )
        try:
            self.console.ask(f"{action}, then press Enter")
        except EOFError:
            raise ToolError(
                "key registration needs someone at the car to present the keys (or --lab-keys "
                "for a simulated car)"
            ) from None

    def withdraw(self) -> None:
        self.console.info("take the key away")


@dataclass(frozen=True)
class RegistrationOutcome:
    masters: int
    subs: int
    smart_keys: int


class KeyRegistration:
    """Registers ``kinds`` (one entry per new key) on the identified car."""

    def __init__(
        self,
        link: DiagnosticLink,
        console: Console,
        identity: CarIdentity,
        presenter: KeyPresenter,
        kinds: list[str],
        *,
        max_wait_s: float = 1200.0,
        diag_key: bytes = DEFAULT_DIAG_KEY,
    ) -> None:
        """``diag_key``: the car's level 0x01 key ``K_diag`` (diagnostic-contract.md §5; a
        secret file's, docs/secrets.md)."""
        if not kinds:
            raise ToolError("register at least one key")
        self.link = link
        self.console = console
        self.identity = identity
        self.presenter = presenter
        self.kinds = kinds
        self.max_wait_s = max_wait_s
        self._diag_key = diag_key

    def run(self) -> RegistrationOutcome:
        target = self.identity.key_target
        if target is None or self.identity.system_type is SystemType.NONE:
            raise ToolError("this car has no immobilizer: there is nothing to register")
        if self.identity.system_type is SystemType.SMART_KEY:
            return self._smart(target)
        if self.identity.system_type is SystemType.ECM_INTEGRATED:
            raise ToolError(
                "keys of an ECM-based immobilizer are registered as the repair manual says "
                "(the first keys inserted into a blank ECM); refer to the SPOC bulletin"
            )
        return self._transponder(target)

    # -- shared ---------------------------------------------------------------------------------

    def _byte(self, target: Target, did: int) -> int:
        return self.link.read_byte(target, did, context="registration")

    def _unlock(self, target: Target) -> None:
        """Extended session and security level 0x01 (the lab diagnostic algorithm with the
        car's ``K_diag``, §5)."""

        def unlock(client: Client) -> None:
            client.change_session(EXTENDED_SESSION)
            seed = bytes(client.request_seed(LEVEL_DIAGNOSTIC).service_data.seed)
            if any(seed):
                client.send_key(LEVEL_DIAGNOSTIC + 1, diagnostic_key(seed, self._diag_key))

        self.link.call(target, "unlocking the registration level", unlock, context="registration")

    def _indicator(self, target: Target) -> bytes:
        return self.link.read(target, DID_SECURITY_INDICATOR, "reading the indicator")

    def _present_and_wait(
        self, target: Target, read: list[int], before: int, *, number: int, kind: str, where: str
    ) -> int:
        """Present key ``number`` and wait until the count read from ``read`` grows.

        A failure flash code counts only once the indicator changed after the key was
        presented: right after a reset the ECU flashes the ready code 21, which is also the
        code of failure 2-1 (domain.md), until the first key goes in.
        """
        shown_before = self._indicator(target)
        self.presenter.present(number, kind, where)
        deadline = time.monotonic() + KEY_WAIT_S
        while True:
            count = sum(self._byte(target, did) for did in read)
            if count > before:
                return count
            indicator = self._indicator(target)
            flashing = indicator[0] == INDICATOR_FLASHING_CODE and indicator[1] in FAILURE_CODES
            if flashing and indicator != shown_before:
                raise ToolError(f"the key was not registered: {FAILURE_CODES[indicator[1]]}")
            if time.monotonic() > deadline:
                code = f" (the indicator flashes {indicator[1]})" if flashing else ""
                raise ToolError(f"the key was not registered within {KEY_WAIT_S:.0f} s{code}")
            time.sleep(POLL_S)

    # -- transponder ----------------------------------------------------------------------------

    def _transponder(self, target: Target) -> RegistrationOutcome:
        self.console.step("Immobilizer key registration (automatic registration)")
        mode = self._byte(target, DID_REGISTRATION_MODE)
        if mode != MODE_AUTOMATIC:
            raise ToolError(
                f"automatic registration is not open (DID 0x0109 = {mode}): it opens after a "
                "reset; registering a key beside the existing ones (routine 0x0202) needs a "
                "registered master key and is not part of this utility"
            )
        if self.kinds[0] != "master":
            raise ToolError("the first key of an automatic registration must be a master key")
        counts = [DID_MASTER_KEYS, DID_SUB_KEYS]
        registered = sum(self._byte(target, did) for did in counts)
        progress = self.console.progress("keys registered", len(self.kinds), unit="keys")
        for number, kind in enumerate(self.kinds, start=1):
            registered = self._present_and_wait(
                target, counts, registered, number=number, kind=kind, where="cylinder"
            )
            self.presenter.withdraw()
            progress.update(number, f"{kind} key {number} registered")
            if self._byte(target, DID_REGISTRATION_MODE) != MODE_AUTOMATIC:
                break  # the ECU's limits are reached: it left the mode by itself
        progress.finish()
        if self._byte(target, DID_REGISTRATION_MODE) == MODE_AUTOMATIC:
            self.link.call(
                target, "ending automatic registration",
                lambda c: (c.change_session(EXTENDED_SESSION),
                           c.start_routine(RID_END_AUTOMATIC_REGISTRATION)),
                context="registration",
            )  # fmt: skip
        masters = self._byte(target, DID_MASTER_KEYS)
        subs = self._byte(target, DID_SUB_KEYS)
        self.console.info(f"registration ended: {masters} master and {subs} sub key(s)")
        return RegistrationOutcome(masters, subs, 0)

    # -- smart key ------------------------------------------------------------------------------

    def _smart(self, target: Target) -> RegistrationOutcome:
        self.console.step("Smart Key Code Registration")
        self._unlock(target)
        started = self.link.call(
            target, "starting Smart Key Code Registration",
            lambda c: c.start_routine(RID_SMART_KEY_REGISTRATION), context="registration",
        )  # fmt: skip
        record = routine_record(started)
        if len(record) < 4:
            raise ToolError(f"unexpected registration record {record.hex()}")
        try:
            remaining = int.from_bytes(record[1:3], "big")
            if remaining:
                self._waiting_period(target, remaining)
            self._smart_keys(target)
        except ToolError:
            self._close_registration(target)
            raise
        stopped = self.link.call(
            target, "ending Smart Key Code Registration",
            lambda c: c.stop_routine(RID_SMART_KEY_REGISTRATION), context="registration",
        )  # fmt: skip
        record = routine_record(stopped)
        count = record[3] if len(record) >= 4 else self._byte(target, DID_SMART_KEYS)
        self.console.info(f"registration ended: {count} smart key(s) registered")
        return RegistrationOutcome(0, 0, count)

    def _smart_keys(self, target: Target) -> None:
        progress = self.console.progress("keys registered", len(self.kinds), unit="keys")
        registered = self._byte(target, DID_SMART_KEYS)
        for number in range(1, len(self.kinds) + 1):
            registered = self._present_and_wait(
                target, [DID_SMART_KEYS], registered, number=number, kind="smart", where="switch"
            )
            self.presenter.withdraw()
            progress.update(number, f"smart key {number} registered")
        progress.finish()

    def _close_registration(self, target: Target) -> None:
        """After a failure: stop routine 0x0206 so registration is not left open."""
        try:
            self.link.call(
                target, "closing Smart Key Code Registration",
                lambda c: c.stop_routine(RID_SMART_KEY_REGISTRATION), context="registration",
            )  # fmt: skip
        except ToolError as exc:
            self.console.warn(f"could not close the registration: {exc}")

    def _waiting_period(self, target: Target, total: int) -> None:
        self.console.info(
            f"the car's waiting period runs ({total} s): registration opens when it ends"
        )
        progress = self.console.progress("waiting period", total)
        deadline = time.monotonic() + self.max_wait_s
        remaining = total
        while remaining > 0:
            if time.monotonic() > deadline:
                raise ToolError(f"the waiting period did not end within {self.max_wait_s:.0f} s")
            time.sleep(POLL_S)
            results = self.link.call(
                target, "reading the registration status",
                lambda c: c.get_routine_result(RID_SMART_KEY_REGISTRATION),
                context="registration",
            )  # fmt: skip
            record = routine_record(results)
            remaining = int.from_bytes(record[1:3], "big") if len(record) >= 3 else 0
            progress.update(total - remaining)
        progress.finish("registration open")
        mode = self._byte(target, DID_REGISTRATION_MODE)
        if mode != MODE_OPEN:
            raise ToolError(f"registration did not open (DID 0x0109 = {mode})")
