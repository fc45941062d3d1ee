"""Identify the car (bulletin Section 3 steps 1-3): VIN, model-year, key system.

The VIN is read from the car (DID 0xF190: the engine ECU first, then the key-code ECU). If it
cannot be read (ignition off, a dead node) the technician gives the model and year, and the VIN
for the portal. The key system comes from DID 0x010A of whichever key-code ECU answers
(diagnostic-contract.md §4), or from the support chart when none does. :func:`read_key_state`
reads the registered keys and the registration mode (DIDs 0x0106, 0x0107, 0x010D, 0x0109,
0x010B).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecusim.catalog import Catalog, CatalogError, ModelYear, SystemType
from ecusim.catalog.vin import VinError, validate_vin
from ecusim.tool.console import Console
from ecusim.tool.contract import (
    DID_CAPABILITIES,
    DID_MASTER_KEYS,
    DID_REGISTRATION_MODE,
    DID_SMART_KEYS,
    DID_SUB_KEYS,
    DID_VIN,
    DID_WAITING_PERIOD,
)
from ecusim.tool.errors import ToolError
from ecusim.tool.link import DiagnosticLink
from ecusim.tool.targets import DEFAULT_KEY_TARGETS, KeySystem, Target, targets_for

SPOC_MESSAGE = (
    "this car's ECM-based immobilizer cannot be reset with the scan tool: refer to the most "
    "recent SPOC bulletin"
)


@dataclass(frozen=True)
class CarIdentity:
    """What the tool knows about the car it is connected to."""

    vin: str
    vin_read: bool
    """Whether the VIN came from the car (else the technician typed it)."""
    model_year: ModelYear | None
    system_type: SystemType
    reset_supported: bool
    key_target: Target | None
    """The node holding the key codes (``None``: no immobilizer)."""

    @property
    def system(self) -> KeySystem | None:
        """The reset utility that applies: Immobilizer or Smart Key."""
        if self.system_type is SystemType.SMART_KEY:
            return KeySystem.SMART_KEY
        if self.system_type in (SystemType.TRANSPONDER_KEY_ECU, SystemType.ECM_INTEGRATED):
            return KeySystem.IMMOBILIZER
        return None

    def require_reset(self) -> Target:
        """The key-code ECU, or why this car cannot be reset with the tool."""
        if self.system_type is SystemType.NONE or self.key_target is None:
            raise ToolError("this car has no immobilizer: there are no key codes to reset")
        if not self.reset_supported:
            raise ToolError(SPOC_MESSAGE)
        return self.key_target


def _chart_entry(model: str | None, year: int | None) -> ModelYear | None:
    if model is None and year is None:
        return None
    if model is None or year is None:
        raise ToolError("give both --model and --year (or neither)")
    try:
        return Catalog.load().lookup(model, year)
    except CatalogError as exc:
        raise ToolError(f"{exc} (see 'ecusim models')") from exc


def _read_vin(link: DiagnosticLink, targets: list[Target]) -> str | None:
    for target in targets:
        raw = link.probe(target, DID_VIN)
        if raw is None:
            continue
        try:
            return validate_vin(raw.decode("ascii"))
        except (UnicodeDecodeError, VinError):
            continue  # not a VIN: try the next node, or ask the technician
    return None


def _checked_identity(
    link: DiagnosticLink, engine: Target, read: str | None, identity: CarIdentity
) -> CarIdentity:
    """``identity``, once its VIN is checked against the key-code ECU's: the Pass-Code is
    derived from the key-code ECU's own, write-once VIN (diagnostic-contract.md §4, §5), and
    that VIN is what the portal logs. An engine VIN (writable with the level 0x01 key) that
    differs from it is refused, never sent on."""
    key_target = identity.key_target
    if read is None or key_target is None or key_target == engine:
        return identity
    held = _read_vin(link, [key_target])  # a blank replacement ECU reads spaces: None
    if held is not None and held != read:
        raise ToolError(
            f"the engine ECU reports VIN {read} but the {key_target.name}, whose VIN the "
            f"Pass-Code is derived from, holds {held}: the car's identity does not add up "
            "(a rewritten engine VIN or a swapped ECU); check the car and its papers before "
            "any reset"
        )
    return identity


def _given_vin(console: Console, vin: str | None) -> str:
    if vin is None:
        try:
            vin = console.ask("VIN (17 characters)")
        except EOFError:
            raise ToolError("the VIN could not be read from the car: give it with --vin") from None
    try:
        return validate_vin(vin.strip())
    except VinError as exc:
        raise ToolError(f"VIN {vin!r}: {exc}") from exc


def _key_system_answer(
    link: DiagnosticLink, candidates: list[Target]
) -> tuple[Target, bytes] | None:
    """The first of ``candidates`` answering the key-system DID with its two bytes."""
    for target in candidates:
        raw = link.probe(target, DID_CAPABILITIES)
        if raw is not None and len(raw) == 2:
            return target, raw
    return None


def _warn_unanswered(console: Console, asked: list[Target]) -> None:
    """No node answered the key-system DID: no immobilizer, or one at other addresses."""
    where = ", ".join(f"0x{target.addressing.request_id:03X}" for target in asked)
    console.warn(
        f"no ECU answered the key-system DID 0x{DID_CAPABILITIES:04X} (asked at {where}): "
        "the car has no immobilizer, or its key-code ECU sits at other addresses (give "
        "--car FILE, its car profile)"
    )


def identify(
    link: DiagnosticLink,
    console: Console,
    *,
    vin: str | None = None,
    model: str | None = None,
    year: int | None = None,
    system: KeySystem | None = None,
    model_year: ModelYear | None = None,
) -> CarIdentity:
    """Identify the car on ``link``; ``vin``/``model``/``year`` are what the technician knows
    (a read VIN must match ``vin``), ``system`` the utility they chose (checked).
    ``model_year``: the car's own entry (a car profile's, docs/car-profiles.md) in place of the
    chart's: its addresses are asked."""
    console.step("Connect and identify the car")
    entry = model_year if model_year is not None else _chart_entry(model, year)
    engine, key_targets = targets_for(entry)
    read = _read_vin(link, [engine, *key_targets.values()])
    if read is not None:
        console.info(f"VIN read from the car: {read}")
        if vin is not None and validate_vin(vin) != read:
            raise ToolError(f"the car's VIN is {read}, not {vin}: check the vehicle")
        the_vin = read
    else:
        if entry is None:
            raise ToolError(
                "the car does not answer (VIN not readable): turn the ignition ON, check the "
                "connection, or give --model and --year"
            )
        console.warn("the VIN could not be read: using the model and year given")

    candidates = [*key_targets.values(), engine]
    if read is not None:  # the car answers: ask the contract's nodes too, not only the chart's
        candidates += [t for t in DEFAULT_KEY_TARGETS.values() if t not in candidates]
    found = _key_system_answer(link, candidates)
    if read is None and found is None:  # the chart alone is no identification
        raise ToolError(
            "nothing answered on the bus: no ECU gave its VIN or its key system; turn the "
            "ignition ON, check the connection and the bus flags (-i/-c/-b)"
        )
    if read is None:
        the_vin = _given_vin(console, vin)
    if found is not None:
        target, raw = found
        try:
            system_type = SystemType.from_did_code(raw[0])
        except CatalogError as exc:
            raise ToolError(f"the {target.name} reports an unknown key system: {exc}") from exc
        reset_supported = bool(raw[1])
        key_target: Target | None = target
        if entry is not None and system_type is not entry.system_type:
            raise ToolError(
                f"the car reports a {system_type.label} system, but the support chart gives "
                f"{entry.system_type.label} for {entry.name}: check --model and --year (or "
                "leave them out: the car identifies itself)"
            )
    elif entry is not None:
        system_type, reset_supported = entry.system_type, entry.reset_supported
        key_target = key_targets.get(KeySystem.SMART_KEY) or key_targets.get(KeySystem.IMMOBILIZER)
        if system_type is not SystemType.NONE:
            console.warn(f"no key-code ECU answered: the support chart says {system_type.label}")
    else:
        system_type, reset_supported, key_target = SystemType.NONE, False, None
        _warn_unanswered(console, candidates)

    identity = _checked_identity(
        link, engine, read, CarIdentity(the_vin, read is not None, entry, system_type,
                                        reset_supported, key_target)
    )  # fmt: skip
    if entry is not None:
        console.info(f"vehicle: {entry.name}")
    label = "no immobilizer" if system_type is SystemType.NONE else system_type.label
    console.info(f"key system: {label}")
    if key_target is not None:
        console.info(f"key codes held by: {key_target.describe()}")
    if system is not None and identity.system is not system:
        have = identity.system.value if identity.system else "none"
        raise ToolError(
            f"this car's key system is {system_type.label}, not {system.value}: choose --system "
            f"{have}"
        )
    return identity


REGISTRATION_MODES = {
    0: "normal",
    1: "automatic registration",
    2: "additional registration",
    3: "waiting period running",
    4: "registration open",
}
"""DID 0x0109 (diagnostic-contract.md §4)."""


@dataclass(frozen=True)
class KeyState:
    """The key-code ECU's registered keys and registration mode (diagnostic-contract.md §4):
    what tells, after an interrupted reset or registration, where the car stands. ``None``: the
    ECU does not have that DID."""

    masters: int | None
    """DID 0x0106."""
    subs: int | None
    """DID 0x0107."""
    smart: int | None
    """DID 0x010D."""
    registration_mode: int | None
    """DID 0x0109 (:data:`REGISTRATION_MODES`)."""
    waiting_period_s: int | None
    """DID 0x010B: seconds left before smart key registration opens."""

    @property
    def mode_name(self) -> str | None:
        if self.registration_mode is None:
            return None
        return REGISTRATION_MODES.get(self.registration_mode, f"mode {self.registration_mode}")

    def counts(self) -> dict[str, int]:
        """Registered keys per kind the ECU reports (``master``, ``sub``, ``smart``)."""
        kinds = {"master": self.masters, "sub": self.subs, "smart": self.smart}
        return {kind: count for kind, count in kinds.items() if count is not None}

    def describe(self) -> str:
        counts = ", ".join(f"{count} {kind}" for kind, count in self.counts().items())
        text = f"registered keys: {counts or 'not reported'}"
        if self.mode_name is not None:
            text += f"; registration mode: {self.mode_name} ({self.registration_mode})"
        if self.waiting_period_s:
            text += f", {self.waiting_period_s} s of waiting period left"
        return text


def read_key_state(link: DiagnosticLink, identity: CarIdentity) -> KeyState | None:
    """The key counts and registration mode of the identified key-code ECU, from DIDs
    0x0106/0x0107 (transponder), 0x010D (smart), 0x0109 and 0x010B; ``None`` without one."""
    target = identity.key_target
    if target is None:
        return None
    smart = identity.system_type is SystemType.SMART_KEY

    def number(did: int) -> int | None:
        raw = link.probe(target, did)
        return int.from_bytes(raw, "big") if raw else None

    return KeyState(
        masters=None if smart else number(DID_MASTER_KEYS),
        subs=None if smart else number(DID_SUB_KEYS),
        smart=number(DID_SMART_KEYS) if smart else None,
        registration_mode=number(DID_REGISTRATION_MODE),
        waiting_period_s=number(DID_WAITING_PERIOD),
    )
