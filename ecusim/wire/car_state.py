"""The car's state as the bus shows it: what each ECU said over UDS and what the body frames say.

Everything is text for a person, by subject (an ECU's name, or :data:`CAR` for the body frames)
and field; each change is a :class:`StateChange` with the time and the source it was read from.
Security per level follows diagnostic-contract.md §3 (ISO 14229-1 §10.4: NRC 0x35 a wrong key,
0x36 the attempt that starts the delay, 0x37 a requestSeed during it); DID 0x010C, when the tester
reads it, gives the ECU's own counters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ecusim.tool import contract
from ecusim.tool.nrc_text import nrc_name
from ecusim.wire import names
from ecusim.wire.exchange import Exchange
from ecusim.wire.names import indicator_text, registration_text
from protocol.constants import POSITIVE_RESPONSE_OFFSET, Nrc, Session, Sid

CAR: Final = "car"
"""The subject of the body frames' state (indicator, ignition, engine, start permission)."""
KEY_KINDS: Final = ("master", "sub", "smart")
_KIND_NIBBLE: Final = {1: "master", 2: "sub", 3: "smart"}
"""A transponder ID's top hex digit names the blank it was made from (docs/domain.md)."""
_COUNT_DIDS: Final = {
    contract.DID_MASTER_KEYS: "master",
    contract.DID_SUB_KEYS: "sub",
    contract.DID_SMART_KEYS: "smart",
}
_BODY_KEY_COUNTS: Final = {"MasterKeys": "master", "SubKeys": "sub", "SmartKeys": "smart"}
_IGNITION: Final = {0: "OFF", 1: "ACC", 2: "ON", 3: "START"}
_START_RESULT: Final = {
    0: "none",
    1: "started",
    2: "refused: no permission",
    3: "refused: ID mismatch",
}


@dataclass(frozen=True)
class StateChange:
    """``subject``'s ``field`` went from ``old`` to ``new`` at ``time`` (read from ``source``)."""

    time: float
    subject: str
    field: str
    old: str | None
    new: str
    source: str

    def describe(self) -> str:
        was = "" if self.old is None else f"{self.old} → "
        return f"{self.subject}: {self.field} {was}{self.new}  ({self.source})"

    def to_json(self) -> dict[str, Any]:
        """The JSON event of docs/monitor.md ("state")."""
        return {
            "type": "state",
            "time": self.time,
            "subject": self.subject,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "source": self.source,
            "text": self.describe(),
        }


def key_kind(transponder_id: int) -> str:
    return _KIND_NIBBLE.get(transponder_id >> 28, "unknown")


@dataclass
class _Level:
    state: str = "locked"
    failed: int = 0
    delay: str = ""

    def text(self) -> str:
        parts = [self.state, f"{self.failed} failed attempt{'s' if self.failed != 1 else ''}"]
        if self.delay:
            parts.append(self.delay)
        return ", ".join(parts)


@dataclass
class KeySlot:
    """A registered (or refused) key the bus showed: its kind, transponder ID if known."""

    kind: str
    transponder_id: int | None
    registered: bool

    def text(self) -> str:
        number = "ID not seen" if self.transponder_id is None else f"{self.transponder_id:08X}"
        return f"{self.kind} {number} {'registered' if self.registered else 'not registered'}"


@dataclass
class _Keys:
    counts: dict[str, int] = field(default_factory=dict)
    ids: dict[int, bool] = field(default_factory=dict)
    """Transponder IDs seen on LAB_KEY_CMD, with whether the car registered them."""
    present: int | None = None

    def slots(self) -> list[KeySlot]:
        found: list[KeySlot] = []
        for kind in KEY_KINDS:
            known = [i for i, ok in self.ids.items() if ok and key_kind(i) == kind]
            count = self.counts.get(kind, len(known))
            found += [KeySlot(kind, i, True) for i in known[:count]]
            found += [KeySlot(kind, None, True) for _ in range(count - len(known[:count]))]
        found += [KeySlot(key_kind(i), i, False) for i, ok in self.ids.items() if not ok]
        return found


class CarState:
    """The state by subject and field (text), updated from exchanges and body frames."""

    def __init__(self, nodes: list[str]) -> None:
        self._lock = threading.Lock()
        self._fields: dict[str, dict[str, str]] = {node: {} for node in [*nodes, CAR]}
        self._levels: dict[str, dict[int, _Level]] = {}
        self._keys = _Keys()
        self.timing: dict[str, tuple[float, float]] = {}
        """Each node's (P2, P2*) from its last 0x50 response (ISO 14229-1 §10.2.3)."""

    # -- reading ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, dict[str, str]]:
        """A copy: subject → field → text, key slots under ``car`` as ``key slot N``."""
        with self._lock:
            copy = {subject: dict(values) for subject, values in self._fields.items()}
            slots = self._keys.slots()
            for index, slot in enumerate(slots, start=1):
                copy[CAR][f"key slot {index}"] = slot.text()
            if not slots:
                copy[CAR]["key slots"] = "none registered"
            return copy

    def key_slots(self) -> list[KeySlot]:
        with self._lock:
            return self._keys.slots()

    # -- writing ------------------------------------------------------------------------------

    def _set(  # noqa: PLR0917 (the change list and time travel with every update)
        self, out: list[StateChange], time: float, subject: str, name: str, value: str,
        source: str, *, announce: bool = True,
    ) -> None:  # fmt: skip
        values = self._fields.setdefault(subject, {})
        old = values.get(name)
        if old == value:
            return
        values[name] = value
        if announce:
            out.append(StateChange(time, subject, name, old, value, source))

    def apply_exchange(self, exchange: Exchange) -> list[StateChange]:
        """What a finished exchange says about its node's state."""
        out: list[StateChange] = []
        if exchange.final is None:
            return out
        request, response = exchange.request.data, exchange.final.data
        time, node = exchange.final.end, exchange.node
        with self._lock:
            nrc = names.negative_code(response)
            if nrc is not None:
                self._negative(out, time, node, request, nrc)
            elif request and response and response[0] == request[0] + POSITIVE_RESPONSE_OFFSET:
                self._positive(out, time, node, request, response)
        return out

    def _levels_of(self, node: str) -> dict[int, _Level]:
        return self._levels.setdefault(node, {})

    def _show_level(
        self, out: list[StateChange], time: float, node: str, level: int, source: str
    ) -> None:
        text = self._levels_of(node)[level].text()
        self._set(out, time, node, f"security 0x{level:02X}", text, source)

    def _lock_all(self, out: list[StateChange], time: float, node: str, source: str) -> None:
        for level, state in self._levels_of(node).items():
            if state.state != "locked":
                state.state = "locked"
                self._show_level(out, time, node, level, source)

    def _session(
        self, out: list[StateChange], time: float, node: str, session: int, source: str
    ) -> None:
        previous = self._fields[node].get("session")
        now = names.session_name(session)
        if previous != now or session != Session.DEFAULT:
            self._lock_all(out, time, node, source)  # §3: re-locks on a session change
        self._set(out, time, node, "session", now, source)

    def _positive(
        self, out: list[StateChange], time: float, node: str, request: bytes, response: bytes
    ) -> None:
        sid = request[0]
        if sid == Sid.DIAGNOSTIC_SESSION_CONTROL and len(response) >= 2:
            self._session(out, time, node, response[1], "0x50")
            if len(response) >= 6:
                p2 = int.from_bytes(response[2:4], "big") / 1000
                p2_star = int.from_bytes(response[4:6], "big") / 100
                self.timing[node] = (p2, p2_star)
        elif sid == Sid.ECU_RESET:
            self._session(out, time, node, Session.DEFAULT, "0x51 (ECUReset)")
        elif sid == Sid.SECURITY_ACCESS and len(response) >= 2:
            self._security(out, time, node, response)
        elif sid == Sid.READ_DATA_BY_IDENTIFIER:
            for did, value in names.split_did_values(response[1:]):
                self._did(out, time, node, did, value)
        elif sid == Sid.ROUTINE_CONTROL and len(request) >= 4:
            rid = int.from_bytes(request[2:4], "big")
            if request[1] & 0x7F == 0x01 and rid in (contract.RID_RESET, contract.RID_ERASE_KEYS):
                name = names.routine_name(rid)
                self._set(out, time, node, "key codes", f"erased ({name})", "0x71")
                self._keys.ids = {i: False for i in self._keys.ids}

    def _security(self, out: list[StateChange], time: float, node: str, response: bytes) -> None:
        sub = response[1]
        levels = self._levels_of(node)
        if sub % 2:  # requestSeed
            level = levels.setdefault(sub, _Level())
            seed = response[2:]
            level.state = "unlocked" if seed and not any(seed) else "seed requested"
            level.delay = ""
        else:  # sendKey: this level unlocked, every other locked (§3: one at a time)
            for other, state in levels.items():
                if other != sub - 1 and state.state != "locked":
                    state.state = "locked"
                    self._show_level(out, time, node, other, "0x67")
            level = levels.setdefault(sub - 1, _Level())
            level.state, level.failed, level.delay = "unlocked", 0, ""
            sub -= 1
        self._show_level(out, time, node, sub, "0x67")

    def _negative(
        self, out: list[StateChange], time: float, node: str, request: bytes, nrc: int
    ) -> None:
        if request[0] != Sid.SECURITY_ACCESS or len(request) < 2:
            return
        sub = request[1] & 0x7F
        level_id = sub if sub % 2 else sub - 1
        level = self._levels_of(node).setdefault(level_id, _Level())
        source = f"NRC 0x{nrc:02X} {nrc_name(nrc)}"
        if nrc == Nrc.INVALID_KEY:
            level.failed += 1
            level.state = "locked"
        elif nrc == Nrc.EXCEEDED_NUMBER_OF_ATTEMPTS:
            level.failed += 1
            level.state, level.delay = "locked", "delay running"
        elif nrc == Nrc.REQUIRED_TIME_DELAY_NOT_EXPIRED:
            level.state, level.delay = "locked", "delay running"
        else:
            return
        self._show_level(out, time, node, level_id, source)

    def _did(self, out: list[StateChange], time: float, node: str, did: int, value: bytes) -> None:
        source = f"DID 0x{did:04X}"
        if did == contract.DID_ACTIVE_SESSION and len(value) == 1:
            self._session(out, time, node, value[0], source)
        elif did in _COUNT_DIDS and len(value) == 1:
            self._set(out, time, node, f"{_COUNT_DIDS[did]} keys", str(value[0]), source)
        elif did == contract.DID_REGISTRATION_MODE and len(value) == 1:
            self._set(out, time, node, "registration mode", registration_text(value[0]), source)
        elif did == contract.DID_WAITING_PERIOD and len(value) == 2:
            seconds = int.from_bytes(value, "big")
            self._set(out, time, node, "waiting period", _waiting(seconds), source)
        elif did == contract.DID_SECURITY_INDICATOR and len(value) == 2:
            self._set(out, time, node, "indicator", indicator_text(value[0], value[1]), source)
        elif did == contract.DID_SECURITY_STATUS:
            try:
                status = contract.security_status(value)
            except ValueError:
                return
            levels = self._levels_of(node)
            for level_id, entry in status.items():
                level = levels.setdefault(level_id, _Level())
                level.failed = entry.failed_attempts
                level.delay = (
                    f"delay {entry.delay_remaining_s} s left" if entry.delay_remaining_s else ""
                )
                self._show_level(out, time, node, level_id, source)

    def apply_body(self, time: float, message: str, values: Mapping[str, Any]) -> list[StateChange]:
        """What one body frame (decoded with the DBC) says about the car."""
        out: list[StateChange] = []
        with self._lock:
            self._body(out, time, message, values)
        return out

    def _body(
        self, out: list[StateChange], time: float, message: str, v: Mapping[str, Any]
    ) -> None:
        def num(name: str) -> int:
            return int(v.get(name, 0))

        if message in ("IMMOBILIZER_STATUS", "SMART_KEY_STATUS"):
            where = "immobilizer" if message == "IMMOBILIZER_STATUS" else "smart key"
            indicator = indicator_text(num("IndicatorMode"), num("IndicatorCode"))
            self._set(out, time, CAR, f"indicator ({where})", indicator, message)
            self._set(out, time, CAR, f"registration mode ({where})",
                      registration_text(num("RegistrationMode")), message)  # fmt: skip
            seconds = num("WaitingPeriodRemaining")
            old = self._fields[CAR].get(f"waiting period ({where})")
            running = seconds > 0
            was_running = old is not None and old != _waiting(0)
            self._set(out, time, CAR, f"waiting period ({where})", _waiting(seconds), message,
                      announce=running != was_running or old is None)  # fmt: skip
            for signal, kind in _BODY_KEY_COUNTS.items():
                if signal in v:
                    self._count(out, time, kind, num(signal), message)
            if "ImmobilizerSet" in v:
                state = "set (start blocked)" if num("ImmobilizerSet") else "unset"
                self._set(out, time, CAR, "immobilizer", state, message)
        elif message == "IGNITION_STATUS":
            self._set(out, time, CAR, "ignition", _IGNITION.get(num("IgnitionState"), "?"), message)
            self._set(out, time, CAR, "key in", "yes" if num("KeyInserted") else "no", message)
        elif message == "ENGINE_STATUS":
            engine = "running" if num("EngineRunning") else "stopped"
            self._set(out, time, CAR, "engine", engine, message)
            result = _START_RESULT.get(num("LastStartResult"), "?")
            self._set(out, time, CAR, "last start", result, message)
            if self._keys.present is not None and result != "none" and num("EngineRunning"):
                self._keys.ids[self._keys.present] = True
        elif message == "START_PERMISSION":
            permitted = "permitted" if num("StartPermitted") else "not permitted"
            self._set(out, time, CAR, "start permission", permitted, message)
        elif message == "LAB_KEY_CMD":
            if num("KeyAction"):
                self._keys.present = num("TransponderId")
                self._keys.ids.setdefault(self._keys.present, False)
            else:
                self._keys.present = None

    def _count(
        self, out: list[StateChange], time: float, kind: str, count: int, source: str
    ) -> None:
        before = self._keys.counts.get(kind)
        self._keys.counts[kind] = count
        present = self._keys.present
        if (
            before is not None
            and count > before
            and present is not None
            and key_kind(present) == kind
        ):
            self._keys.ids[present] = True  # the key presented now is the one registered
        if count == 0:
            for transponder_id in self._keys.ids:
                if key_kind(transponder_id) == kind:
                    self._keys.ids[transponder_id] = False
        self._set(out, time, CAR, f"{kind} keys", str(count), source)


def _waiting(seconds: int) -> str:
    return (
        "none" if seconds == 0 else f"{seconds} s left ({seconds // 60} min {seconds % 60:02d} s)"
    )
