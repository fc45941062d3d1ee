"""Car profiles: a TOML file that describes one car (docs/car-profiles.md).

A profile holds what a support-chart entry holds (model, year, key system, key limits, factory
keys, keyless entry, waiting period) and, per diagnosable node (``ecus.ecm``, and
``ecus.immobilizer`` where the car has one), its addresses with the ISO 15765-2 extended address
(Toyota's sub-address), the ISO-TP padding byte, STmin, block size and N_WFTmax (ISO 15765-2
§9.6.5, §9.7), P2server and P2*server (ISO 14229-2 §7.2), the seed/key algorithm of each
SecurityAccess level by its :mod:`protocol.security_algorithms` registry name, and extra
read-only DIDs with fixed values. A node's value left out keeps the simulator's default.

The layout is validated with pydantic, reusing the support chart's node, key-limit and
factory-key layouts and its error wording: a malformed profile raises :class:`ProfileError`,
one line naming the file and the key path, e.g.
``my-car.toml: ecus.immobilizer.padding: must be a byte 0x00..0xFF, got 300``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

import tomli_w
from pydantic import AfterValidator, Field, PlainValidator, StrictBool, StrictInt

from ecusim.catalog.chart import _FIRST_YEAR as FIRST_YEAR
from ecusim.catalog.chart import _LAST_YEAR as LAST_YEAR
from ecusim.catalog.chart import (
    Basis,
    BasisKind,
    CatalogError,
    DiagnosticAddresses,
    FactoryKeys,
    KeylessEntry,
    KeyLimits,
    ModelYear,
    NodeAddress,
    RegistrationLimit,
    SystemType,
    _build,
    _choice,
    _invalid,
    _Layout,
    _Text,
    _validate,
)
from protocol.ecu_file import address_conflict
from protocol.ecu_file.schema import MAX_DID_VALUE_BYTES, MAX_MESSAGE_BYTES
from protocol.errors import ConfigurationError
from protocol.isotp_binding import IsoTpAddressing
from protocol.security_algorithms import default_registry

__all__ = [
    "PROFILE_FORMAT",
    "PROFILE_VERSION",
    "ROLES",
    "CarProfile",
    "EcuProfile",
    "ProfileError",
    "algorithm_names",
    "load_profile",
    "parse_profile",
]

PROFILE_FORMAT = "ecusim-car-profile"
"""The profile's ``format`` key."""
PROFILE_VERSION = 1
"""The profile layout this module reads and writes."""
ROLES = ("ecm", "immobilizer")
"""The nodes a profile describes, as the chart's ``addresses`` names them: the engine ECU, and
the transponder key ECU or certification ECU."""
PROFILE_SOURCE = "car-profile"
"""The basis source of every value of a profile's :class:`ModelYear`."""


class ProfileError(CatalogError):
    """A car profile that cannot be read or is malformed: one line naming the file and key."""


@dataclass(frozen=True)
class EcuProfile:
    """One node of a profile; ``None``: the simulator's default for that value."""

    address: NodeAddress
    padding: int | None = None
    """ISO-TP padding byte of classic frames (Toyota traces show 0x00)."""
    st_min_ms: float | None = None
    """STmin the node asks for in its flow control (ISO 15765-2 §9.6.5), 0..127 ms."""
    block_size: int | None = None
    """BS of the node's flow control (ISO 15765-2 §9.6.5), 0 = no further flow control."""
    n_wft_max: int | None = None
    """N_WFTmax: flow-control WAITs in a row the node accepts as a sender (ISO 15765-2
    §9.6.5, §9.7), 0 = WAIT not allowed."""
    p2_ms: int | None = None
    """P2server_max (ISO 14229-2 §7.2), also reported in the 0x50 response."""
    p2_star_ms: int | None = None
    """P2*server_max: the longest wait between two 0x78 responses (ISO 14229-2 §7.2)."""
    security: Mapping[int, str] = field(default_factory=dict)
    """SecurityAccess requestSeed level → algorithm registry name."""
    dids: Mapping[int, bytes] = field(default_factory=dict)
    """Extra read-only DIDs and their fixed values (0x22 in every session)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", MappingProxyType(dict(self.security)))
        object.__setattr__(self, "dids", MappingProxyType(dict(self.dids)))


@dataclass(frozen=True)
class CarProfile:
    """A car described by a profile: its chart-like entry and the settings of its nodes."""

    model_year: ModelYear
    ecus: Mapping[str, EcuProfile]
    """By role (:data:`ROLES`); the immobilizer only where the car has one."""
    origin: str = "car profile"
    """Where it was read from (the file's name), for messages."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ecus", MappingProxyType(dict(self.ecus)))

    @classmethod
    def from_entry(
        cls, entry: ModelYear, ecus: Mapping[str, EcuProfile] | None = None
    ) -> CarProfile:
        """A profile of the chart's ``entry``: its addresses, and ``ecus``' settings if given."""
        nodes = {"ecm": entry.addresses.ecm, "immobilizer": entry.addresses.immobilizer}
        given = dict(ecus or {})
        chosen = {
            role: given.get(role, EcuProfile(node))
            for role, node in nodes.items()
            if node is not None
        }
        return cls(entry, chosen, origin=f"{entry.name} of the support chart")

    def to_toml(self) -> str:
        """The profile as TOML (what :func:`parse_profile` reads back to an equal profile)."""
        entry = self.model_year
        document: dict[str, Any] = {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "model": entry.model,
            "year": entry.year,
            "system_type": entry.system_type.value,
            "reset_supported": entry.reset_supported,
            "keyless_entry": entry.keyless_entry.value,
            "waiting_period_s": entry.waiting_period_s,
            "key_limits": _limits_table(entry.key_limits),
            "factory_keys": {
                "masters": entry.factory_keys.masters,
                "subs": entry.factory_keys.subs,
                "smart_keys": entry.factory_keys.smart_keys,
            },
            "ecus": {role: _ecu_table(ecu) for role, ecu in self.ecus.items()},
        }
        header = (
            f"# ecusim car profile: {entry.name} ({entry.system_type.label}).\n"
            "# Every key is described in docs/car-profiles.md; run it with\n"
            "# 'ecusim run --car FILE'.\n\n"
        )
        return header + tomli_w.dumps(document)


def _limits_table(limits: KeyLimits) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name in ("automatic", "additional"):
        limit: RegistrationLimit | None = getattr(limits, name)
        if limit is not None:
            table[name] = {"masters": limit.masters, "subs": limit.subs}
    for name in ("ecm_codes", "smart_keys"):
        value = getattr(limits, name)
        if value is not None:
            table[name] = value
    return table


def _ecu_table(ecu: EcuProfile) -> dict[str, Any]:
    node = ecu.address
    table: dict[str, Any] = {"request": f"0x{node.request_id:03X}"}
    table["response"] = f"0x{node.response_id:03X}"
    if node.functional_id is not None:
        table["functional"] = f"0x{node.functional_id:03X}"
    if node.extended_address is not None:
        table["extended_address"] = f"0x{node.extended_address:02X}"
    if ecu.padding is not None:
        table["padding"] = f"0x{ecu.padding:02X}"
    for name in ("st_min_ms", "block_size", "n_wft_max", "p2_ms", "p2_star_ms"):
        value = getattr(ecu, name)
        if value is not None:
            table[name] = value
    if ecu.security:
        table["security"] = {f"0x{level:02X}": name for level, name in ecu.security.items()}
    if ecu.dids:
        table["dids"] = {f"0x{did:04X}": value.hex().upper() for did, value in ecu.dids.items()}
    return table


# --- reading -------------------------------------------------------------------------------


def load_profile(path: Path | str) -> CarProfile:
    """Read and validate the profile at ``path`` (:class:`ProfileError` names the file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProfileError(f"{path}: cannot read the car profile: {reason}") from exc
    return parse_profile(text, origin=path.name)


def parse_profile(text: str, *, origin: str = "car profile") -> CarProfile:
    """Parse and validate a profile's TOML text; errors start with ``origin``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: not valid TOML ({exc})") from exc
    try:
        layout = _validate(_ProfileLayout, document, "top level", separator=": ")
        return layout.profile(origin)
    except CatalogError as exc:
        raise ProfileError(f"{origin}: {exc}") from exc


def algorithm_names() -> tuple[str, ...]:
    """The security algorithms a profile may name: the default registry's and those published
    in the ``ecusim.security_algorithms`` entry-point group."""
    registry = default_registry()
    try:
        registry.load_entry_points(replace=True)
    except ConfigurationError as exc:
        raise ProfileError(str(exc)) from exc
    return registry.names()


def _hex_text(value: object, digits: int, what: str) -> int:
    if not isinstance(value, str) or not re.fullmatch(rf"0[xX][0-9a-fA-F]{{1,{digits}}}", value):
        raise _invalid(f"must be {what} like '0x{'0' * digits}', got {{got}}", value)
    return int(value, 16)


def _byte(value: object) -> int:
    """A byte as a TOML integer (``0x00`` or ``0``) or a hex string (``"0x00"``)."""
    if isinstance(value, str):
        number = _hex_text(value, 2, "a byte")
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _invalid("must be a byte 0x00..0xFF, got {got}", value)
    if not 0 <= number <= 0xFF:
        raise _invalid("must be a byte 0x00..0xFF, got {got}", value)
    return number


def _can_id(value: object) -> int:
    """An 11-bit CAN ID as a hex string (``"0x7E0"``, the chart's spelling) or an integer."""
    phrase = "must be an 11-bit CAN ID 0x000..0x7FF like '0x7E0', got {got}"
    if isinstance(value, str):
        number = _hex_text(value, 3, "an 11-bit CAN ID")
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _invalid(phrase, value)
    if not 0 <= number <= 0x7FF:
        raise _invalid(phrase, value)
    return number


def _bounded_int(low: int, high: int, unit: str) -> PlainValidator:
    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _invalid(f"must be an integer {low}..{high}{unit}, got {{got}}", value)
        return value

    return PlainValidator(parse)


def _in_range(low: int, high: int, why: str = "") -> AfterValidator:
    """An integer (already type-checked) within ``low..high``; ``why`` says where the bound
    comes from."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise _invalid(f"must be {low}..{high}{why}, got {{got}}", value)
        return value

    return AfterValidator(check)


def _waiting_period(value: object) -> float:
    """Seconds, 0..65535: the certification ECU reports it in a 2-byte DID."""
    phrase = "must be a number of seconds 0..65535 (it is sent in 2 bytes), got {got}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(phrase, value)
    if not 0 <= value <= 0xFFFF:  # also refuses inf and nan
        raise _invalid(phrase, value)
    return float(value)


def _st_min(value: object) -> float:
    """STmin in ms: 0..127, or 0.1..0.9 (the 100 µs steps of ISO 15765-2 Table 20)."""
    phrase = "must be 0..127 ms (or 0.1..0.9 for 100..900 µs), got {got}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(phrase, value)
    number = float(value)
    micro_steps = 0 < number < 1 and math.isclose(number * 10, round(number * 10))
    if not (number.is_integer() and 0 <= number <= 127) and not micro_steps:
        raise _invalid(phrase, value)
    return number


def _level(value: object) -> int:
    level = _hex_text(value, 2, "a requestSeed level")
    if level % 2 != 1 or not 0x01 <= level <= 0x7D:
        raise _invalid("must be an odd requestSeed level 0x01..0x7D, got {got}", value)
    return level


def _algorithm(value: object) -> str:
    names = algorithm_names()
    if not isinstance(value, str) or value not in names:
        raise _invalid("must be one of {allowed}; got {got}", value, allowed=", ".join(names))
    return value


def _did(value: object) -> int:
    return _hex_text(value, 4, "a DID")


def _did_value(value: object) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", value):
        raise _invalid(
            "must be the value's bytes in hex, an even number of digits, e.g. '0102AB'; got {got}",
            value,
        )
    if len(value) // 2 > MAX_DID_VALUE_BYTES:
        raise _invalid(
            f"{len(value) // 2} bytes do not fit one response (at most {MAX_DID_VALUE_BYTES}: "
            f"{MAX_MESSAGE_BYTES} bytes of an ISO-TP message minus 62 and the DID)",
            value,
        )
    return bytes.fromhex(value)


def _model_name(text: str) -> str:
    """Letters, digits, spaces, ``-``, ``_`` and ``/``, as the chart's names (and what
    :func:`~ecusim.catalog.chart.normalize_model` folds): it is printed to the terminal."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _/-]{0,39}", text):
        raise _invalid(
            "must be up to 40 letters, digits, spaces, '-', '_' or '/' starting with a letter "
            "or digit, got {got}",
            text,
        )
    return text


def _profile_format(text: str) -> str:
    if text != PROFILE_FORMAT:
        raise _invalid(f"must be {PROFILE_FORMAT!r}, got {{got}}", text)
    return text


def _profile_version(version: int) -> int:
    if version != PROFILE_VERSION:
        raise _invalid(f"{{got}} is not supported (this ecusim reads {PROFILE_VERSION})", version)
    return version


_CanId = Annotated[int, PlainValidator(_can_id)]
_Byte = Annotated[int, PlainValidator(_byte)]
_Level = Annotated[int, PlainValidator(_level)]
_Algorithm = Annotated[str, PlainValidator(_algorithm)]
_Did = Annotated[int, PlainValidator(_did)]
_DidValue = Annotated[bytes, PlainValidator(_did_value)]


class _EcuLayout(_Layout):
    """``ecus.<role>``: the chart's node addresses, then the node's transport and session
    settings (names as in the TOML file)."""

    request_id: Annotated[_CanId, Field(alias="request")]
    response_id: Annotated[_CanId, Field(alias="response")]
    functional_id: Annotated[_CanId | None, Field(alias="functional")] = None
    extended_address: _Byte | None = None
    padding: _Byte | None = None
    st_min_ms: Annotated[float | None, PlainValidator(_st_min)] = None
    block_size: Annotated[int | None, _bounded_int(0, 0xFF, "")] = None
    n_wft_max: Annotated[int | None, _bounded_int(0, 0xFF, "")] = None
    p2_ms: Annotated[int | None, _bounded_int(0, 0xFFFF, " ms")] = None
    p2_star_ms: Annotated[int | None, _bounded_int(10, 0xFFFF * 10, " ms")] = None
    security: dict[_Level, _Algorithm] = Field(default_factory=dict)
    dids: dict[_Did, _DidValue] = Field(default_factory=dict)

    def ecu(self) -> EcuProfile:
        address = NodeAddress(
            request_id=self.request_id,
            response_id=self.response_id,
            functional_id=self.functional_id,
            extended_address=self.extended_address,
        )
        return EcuProfile(
            address=address,
            padding=self.padding,
            st_min_ms=self.st_min_ms,
            block_size=self.block_size,
            n_wft_max=self.n_wft_max,
            p2_ms=self.p2_ms,
            p2_star_ms=self.p2_star_ms,
            security=self.security,
            dids=self.dids,
        )


_KeyCount = Annotated[StrictInt, _in_range(1, 0xFF, " (a byte)")]


class _ProfileLimitLayout(_Layout):
    masters: _KeyCount
    subs: Annotated[StrictInt, _in_range(0, 0xFF, " (a byte)")]


class _ProfileKeyLimitsLayout(_Layout):
    """The chart's key limits, bounded here so that the ECUs' own checks cannot fail later."""

    automatic: _ProfileLimitLayout | None = None
    additional: _ProfileLimitLayout | None = None
    ecm_codes: _KeyCount | None = None
    smart_keys: Annotated[StrictInt | None, _in_range(1, 15, " (a 4-bit signal)")] = None


class _ProfileFactoryKeysLayout(_Layout):
    masters: Annotated[StrictInt, _in_range(0, 0xFF)]
    subs: Annotated[StrictInt, _in_range(0, 0xFF)]
    smart_keys: Annotated[StrictInt, _in_range(0, 0xFF)]


class _EcusLayout(_Layout):
    ecm: _EcuLayout
    immobilizer: _EcuLayout | None = None


class _ProfileLayout(_Layout):
    format: Annotated[_Text, AfterValidator(_profile_format)]
    version: Annotated[StrictInt, AfterValidator(_profile_version)]
    model: Annotated[_Text, AfterValidator(_model_name)]
    year: Annotated[StrictInt, _in_range(FIRST_YEAR, LAST_YEAR)]
    system_type: Annotated[SystemType, _choice(SystemType)]
    reset_supported: StrictBool
    keyless_entry: Annotated[KeylessEntry, _choice(KeylessEntry)]
    waiting_period_s: Annotated[float, PlainValidator(_waiting_period)] = 0.0
    key_limits: _ProfileKeyLimitsLayout
    factory_keys: _ProfileFactoryKeysLayout
    ecus: _EcusLayout

    def profile(self, origin: str) -> CarProfile:
        """The profile (the chart's own checks of an entry may raise :class:`CatalogError`)."""
        ecus = {"ecm": self.ecus.ecm.ecu()}
        if self.ecus.immobilizer is not None:
            ecus["immobilizer"] = self.ecus.immobilizer.ecu()
        _check_unique_addresses(ecus)
        limits = self.key_limits
        basis = Basis(BasisKind.LAB, PROFILE_SOURCE, f"car profile {origin}")
        immobilizer = ecus.get("immobilizer")
        try:
            entry = ModelYear(
                model=self.model.strip().upper(),
                year=self.year,
                system_type=self.system_type,
                reset_supported=self.reset_supported,
                key_limits=KeyLimits(
                    automatic=_build(RegistrationLimit, limits.automatic),
                    additional=_build(RegistrationLimit, limits.additional),
                    ecm_codes=limits.ecm_codes,
                    smart_keys=limits.smart_keys,
                ),
                factory_keys=FactoryKeys(**self.factory_keys.model_dump()),
                keyless_entry=self.keyless_entry,
                addresses=DiagnosticAddresses(
                    ecm=ecus["ecm"].address,
                    immobilizer=None if immobilizer is None else immobilizer.address,
                ),
                waiting_period_s=self.waiting_period_s,
                basis=dict.fromkeys(ModelYear.basis_fields(self.system_type), basis),
            )
        except CatalogError as exc:  # the chart's words, with the profile's key names
            words = str(exc).replace("addresses.", "ecus.")
            raise CatalogError(re.sub(r"^([a-z_.]+) (must|is) ", r"\1: \2 ", words)) from None
        _check_factory_keys(entry)
        return CarProfile(entry, ecus, origin=origin)


def _check_factory_keys(entry: ModelYear) -> None:
    """The car cannot leave the factory with more keys than its key memory holds: the
    transponder key ECU's larger registration limit per kind, the ECM's ``ecm_codes`` in all,
    the certification ECU's ``smart_keys`` (a kind with no limit is not stored: unchecked)."""
    limits, keys = entry.key_limits, entry.factory_keys
    capacity: dict[str, tuple[int, str]] = {}
    registration = [
        (name, limit)
        for name in ("automatic", "additional")
        if (limit := getattr(limits, name)) is not None
    ]
    for kind in ("masters", "subs"):
        if registration:
            name, limit = max(registration, key=lambda item: getattr(item[1], kind))
            capacity[kind] = (getattr(limit, kind), f"key_limits.{name}.{kind}")
        elif limits.ecm_codes is not None:
            capacity[kind] = (limits.ecm_codes, "key_limits.ecm_codes")
    if limits.smart_keys is not None:
        capacity["smart_keys"] = (limits.smart_keys, "key_limits.smart_keys")
    for kind in ("masters", "subs", "smart_keys"):
        count: int = getattr(keys, kind)
        if kind not in capacity:  # not a key the immobilizer stores (a plain metal key)
            continue
        most, where = capacity[kind]
        if count > most:
            raise CatalogError(f"factory_keys.{kind}: {count} is more than {where} ({most})")
    if limits.ecm_codes is not None and keys.masters + keys.subs > limits.ecm_codes:
        raise CatalogError(
            f"factory_keys: {keys.masters} masters + {keys.subs} subs is more than "
            f"key_limits.ecm_codes ({limits.ecm_codes})"
        )


def _check_unique_addresses(ecus: Mapping[str, EcuProfile]) -> None:
    """The rule of ``--ecu`` files (:func:`protocol.ecu_file.address_conflict`, ISO 15765-2
    §10: one node per address): a request or response ID belongs to one node (shared only
    under extended addressing with different address bytes, Toyota's 0x750 + sub-address), and
    a functional ID is no node's request or response ID."""
    taken: list[tuple[str, IsoTpAddressing]] = []
    for role, ecu in ecus.items():
        node = ecu.address
        if node.functional_id in (node.request_id, node.response_id):
            raise CatalogError(
                f"ecus.{role}.functional: 0x{node.functional_id:03X} must differ from the "
                f"{role}'s request and response IDs"
            )
        addressing = IsoTpAddressing(
            request_id=node.request_id,
            response_id=node.response_id,
            functional_id=node.functional_id,
            extended_address=node.extended_address,
        )
        conflict = address_conflict(addressing, taken)
        if conflict is not None:
            key = conflict.split(" ", 1)[0]  # "request ID 0x750 is also …" → request
            raise CatalogError(
                f"ecus.{role}.{key}: {conflict}: each request and response ID belongs to one "
                "node (shared only with different extended addresses) and a functional ID is "
                "no node's physical ID"
            )
        taken.append((f"ecus.{role}", addressing))
