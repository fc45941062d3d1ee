"""The Lexus Vehicle Support chart: which immobilizer each model-year has and how to reset it.

The Immobilizer and Smart Key Reset bulletin (SS002, 1997-2015) tells the technician to check the
*Lexus Vehicle Support* chart first: some early ECM-based immobilizers cannot be reset with the
scan tool. :class:`Catalog` is our version of that chart, loaded from the package data file
``ecusim/catalog/support_chart.json``: one :class:`ModelYear` per model and model year with its
system type, whether the reset is supported, key limits, factory key set, keyless entry type,
default diagnostic addresses and the smart-key waiting period. Every value carries a
:class:`Basis`: ``public`` (a cited source: domain.md, the bulletin, a seed) or ``lab`` (our
default where nothing public exists). ``docs/support-chart.md`` explains each decision.

>>> entry = Catalog.load().lookup("ls430", 2004)
>>> print(entry.system_type.label, entry.reset_supported, entry.key_limits.describe())
transponder key ECU True automatic 3M+1S, additional 5M+3S
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from ecusim.errors import EcusimError
from protocol.isotp_binding import IsoTpAddressing

__all__ = [
    "CHART_FORMAT",
    "CHART_RESOURCE",
    "CHART_VERSION",
    "Basis",
    "BasisKind",
    "Catalog",
    "CatalogError",
    "DiagnosticAddresses",
    "FactoryKeys",
    "KeyLimits",
    "KeylessEntry",
    "ModelYear",
    "NodeAddress",
    "RegistrationLimit",
    "SystemType",
    "normalize_model",
    "parse_chart",
]

CHART_RESOURCE = ("catalog", "support_chart.json")
"""Path of the chart inside the ``ecusim`` package."""
CHART_FORMAT = "ecusim-support-chart"
"""The chart's ``format`` member."""
CHART_VERSION = 1
"""The chart layout this module reads."""

_FIRST_YEAR = 1980
_LAST_YEAR = 2039


class CatalogError(EcusimError, ValueError):
    """An unknown model or model year, or a malformed support chart."""


class SystemType(StrEnum):
    """Immobilizer generation (domain.md "Immobilizer generations")."""

    NONE = "none"
    """No immobilizer: metal key (and a separate keyless entry), e.g. the 1992 SC400."""
    ECM_INTEGRATED = "ecm_integrated"
    """Key codes in the engine ECU's EEPROM; not resettable with the scan tool."""
    TRANSPONDER_KEY_ECU = "transponder_key_ecu"
    """A separate transponder key ECU sharing an ECU-ECM communication ID with the ECM."""
    SMART_KEY = "smart_key"
    """Certification ECU + ID code box + steering lock ECU + ECM."""

    @property
    def did_code(self) -> int:
        """The system-type byte of DID 0x010A (diagnostic-contract.md §4); 0 for no immobilizer."""
        return _DID_CODES[self]

    @property
    def label(self) -> str:
        """Human-readable name."""
        return _LABELS[self]

    @property
    def resettable(self) -> bool:
        """Whether this generation can be reset with the scan tool (bulletin SS002)."""
        return self in (SystemType.TRANSPONDER_KEY_ECU, SystemType.SMART_KEY)

    @classmethod
    def from_did_code(cls, code: int) -> SystemType:
        """The system type whose DID 0x010A code is ``code``."""
        for system_type, value in _DID_CODES.items():
            if value == code:
                return system_type
        raise CatalogError(f"no system type has DID 0x010A code {code}")


_DID_CODES = {
    SystemType.NONE: 0,
    SystemType.ECM_INTEGRATED: 1,
    SystemType.TRANSPONDER_KEY_ECU: 2,
    SystemType.SMART_KEY: 3,
}
_LABELS = {
    SystemType.NONE: "none",
    SystemType.ECM_INTEGRATED: "ECM-integrated",
    SystemType.TRANSPONDER_KEY_ECU: "transponder key ECU",
    SystemType.SMART_KEY: "smart key",
}


class KeylessEntry(StrEnum):
    """Keyless entry receiver type (domain.md "Keyless entry with a ROM chip")."""

    ROM = "rom"
    """Remote codes in a plug-in, non-programmable ROM; new remotes need a new ROM."""
    PROGRAMMABLE = "programmable"
    """Codes learnt by the receiver (MY1994+)."""


class BasisKind(StrEnum):
    """Where a chart value comes from."""

    PUBLIC = "public"
    """A public source says so (domain.md [S], the bulletin, a seed document)."""
    LAB = "lab"
    """Our own default, following the generation pattern; configurable."""


@dataclass(frozen=True)
class Basis:
    """The basis of one chart value: its kind, the chart's source id and that source's note."""

    kind: BasisKind
    source: str
    """Key into the chart's ``sources`` table."""
    note: str
    """The source's text, e.g. ``domain.md [S]: transponder key ECU on the 2001-06 LS430``."""

    @property
    def is_lab(self) -> bool:
        return self.kind is BasisKind.LAB

    @property
    def marker(self) -> str:
        """``"*"`` for a lab value, ``""`` for a public one (the ``ecusim models`` marker)."""
        return "*" if self.is_lab else ""


@dataclass(frozen=True)
class RegistrationLimit:
    """How many master and sub keys one registration mode accepts in total."""

    masters: int
    subs: int

    def __post_init__(self) -> None:
        if self.masters < 1 or self.subs < 0:
            raise CatalogError(f"a registration limit needs ≥ 1 master and ≥ 0 subs: {self}")

    def describe(self) -> str:
        return f"{self.masters}M+{self.subs}S"


@dataclass(frozen=True)
class KeyLimits:
    """Key limits of one immobilizer (domain.md "Keys"); the fields of other systems are None.

    Transponder key ECU: ``automatic`` (new registration after a reset) and ``additional``.
    ECM-integrated: ``ecm_codes`` codes in total, the last one registered becomes the sub key.
    Smart key: ``smart_keys``. No immobilizer: all None.
    """

    automatic: RegistrationLimit | None = None
    additional: RegistrationLimit | None = None
    ecm_codes: int | None = None
    smart_keys: int | None = None

    def __post_init__(self) -> None:
        for name in ("ecm_codes", "smart_keys"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise CatalogError(f"{name} must be ≥ 1, got {value}")

    @property
    def last_code_is_sub(self) -> bool:
        """ECM-integrated: the last code registered becomes the sub key."""
        return self.ecm_codes is not None

    def describe(self) -> str:
        parts: list[str] = []
        if self.automatic is not None:
            parts.append(f"automatic {self.automatic.describe()}")
        if self.additional is not None:
            parts.append(f"additional {self.additional.describe()}")
        if self.ecm_codes is not None:
            parts.append(f"{self.ecm_codes} codes (last = sub)")
        if self.smart_keys is not None:
            parts.append(f"{self.smart_keys} smart keys")
        return ", ".join(parts) or "-"


@dataclass(frozen=True)
class FactoryKeys:
    """Keys a car leaves the factory with."""

    masters: int
    subs: int
    smart_keys: int

    def __post_init__(self) -> None:
        if min(self.masters, self.subs, self.smart_keys) < 0:
            raise CatalogError(f"factory key counts must be ≥ 0: {self}")

    def describe(self) -> str:
        parts = []
        if self.masters or self.subs:
            parts.append(f"{self.masters}M+{self.subs}S")
        if self.smart_keys:
            parts.append(f"{self.smart_keys} smart")
        return ", ".join(parts) or "-"


@dataclass(frozen=True)
class NodeAddress:
    """Default ISO-TP addresses of one diagnosable node
    (diagnostic-contract.md §1), as plain ints."""

    request_id: int
    response_id: int
    functional_id: int | None = None
    extended_address: int | None = None
    """ISO 15765-2 extended address (Toyota sub-address), ``None`` for normal addressing."""

    def __post_init__(self) -> None:
        for name in ("request_id", "response_id", "functional_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 0x7FF:
                raise CatalogError(f"{name} must be an 11-bit CAN ID, got {value:#x}")
        if self.extended_address is not None and not 0 <= self.extended_address <= 0xFF:
            raise CatalogError(f"extended_address must be a byte, got {self.extended_address:#x}")

    def isotp_addressing(self) -> IsoTpAddressing:
        """This node's addresses for :mod:`protocol.isotp_binding`."""
        return IsoTpAddressing(
            request_id=self.request_id,
            response_id=self.response_id,
            functional_id=self.functional_id,
            extended_address=self.extended_address,
        )

    def describe(self) -> str:
        ext = "" if self.extended_address is None else f" ext 0x{self.extended_address:02X}"
        func = "" if self.functional_id is None else f" func 0x{self.functional_id:03X}"
        return f"0x{self.request_id:03X}->0x{self.response_id:03X}{ext}{func}"


@dataclass(frozen=True)
class DiagnosticAddresses:
    """Default addresses of a model-year's nodes.

    ``immobilizer`` is the transponder key ECU or the certification ECU (smart key), ``None``
    when the key codes live in the ECM (ECM-integrated) or there is no immobilizer.
    """

    ecm: NodeAddress
    immobilizer: NodeAddress | None = None


@dataclass(frozen=True)
class ModelYear:
    """One row of the support chart."""

    model: str
    """Upper case as in the bulletin, e.g. ``LS430``, ``IS F``, ``RX450H``."""
    year: int
    system_type: SystemType
    reset_supported: bool
    """Whether the scan-tool Immobilizer/Smart Key Reset works (else: refer to SPOC)."""
    key_limits: KeyLimits
    factory_keys: FactoryKeys
    keyless_entry: KeylessEntry
    addresses: DiagnosticAddresses
    waiting_period_s: float
    """Smart key: seconds after a reset before the first key is accepted; 0 otherwise."""
    basis: Mapping[str, Basis] = field(hash=False)
    """The basis of each value, keyed by :meth:`basis_fields` names."""

    def __post_init__(self) -> None:
        if not self.model or self.model != self.model.upper().strip():
            raise CatalogError(f"model must be upper case without outer spaces: {self.model!r}")
        if not _FIRST_YEAR <= self.year <= _LAST_YEAR:
            raise CatalogError(f"year {self.year} is outside {_FIRST_YEAR}-{_LAST_YEAR}")
        if self.reset_supported and not self.system_type.resettable:
            raise CatalogError(
                f"reset_supported is true but system_type {self.system_type.value} cannot be "
                "reset with the scan tool"
            )
        self._check_limits()
        if (self.system_type is SystemType.SMART_KEY) != (self.waiting_period_s > 0):
            raise CatalogError(
                f"waiting_period_s must be > 0 for smart_key and 0 otherwise; got "
                f"{self.waiting_period_s:g} for {self.system_type.value}"
            )
        has_immobilizer_node = self.system_type in (
            SystemType.TRANSPONDER_KEY_ECU,
            SystemType.SMART_KEY,
        )
        if has_immobilizer_node != (self.addresses.immobilizer is not None):
            need = "required" if has_immobilizer_node else "must be null"
            raise CatalogError(
                f"addresses.immobilizer is {need} for system_type {self.system_type.value}"
            )
        order = self.basis_fields(self.system_type)
        if set(self.basis) != set(order):
            missing = sorted(set(order) - set(self.basis))
            extra = sorted(set(self.basis) - set(order))
            problems = [f"missing {missing}"] if missing else []
            if extra:
                problems.append(f"unexpected {extra} for system_type {self.system_type.value}")
            raise CatalogError(f"basis: {'; '.join(problems)}")
        ordered = {name: self.basis[name] for name in order}
        object.__setattr__(self, "basis", MappingProxyType(ordered))

    def _check_limits(self) -> None:
        limits = self.key_limits
        present = {
            name
            for name in ("automatic", "additional", "ecm_codes", "smart_keys")
            if getattr(limits, name) is not None
        }
        wanted = set(_LIMIT_FIELDS[self.system_type])
        if present != wanted:
            raise CatalogError(
                f"key_limits for system_type {self.system_type.value} must have "
                f"{sorted(wanted) or 'nothing'}, got {sorted(present) or 'nothing'}"
            )

    @staticmethod
    def basis_fields(system_type: SystemType) -> tuple[str, ...]:
        """Names in ``basis`` for an entry of ``system_type``."""
        limits = tuple(_BASIS_LIMIT_NAMES[name] for name in _LIMIT_FIELDS[system_type])
        waiting = ("waiting_period",) if system_type is SystemType.SMART_KEY else ()
        return (
            "years",
            "system_type",
            "reset_supported",
            *limits,
            "factory_keys",
            "keyless_entry",
            "addresses",
            *waiting,
        )

    @property
    def name(self) -> str:
        """``"LS430 2004"``."""
        return f"{self.model} {self.year}"

    @property
    def key_store(self) -> str | None:
        """Where the key codes live: ``ecm``, ``transponder key ECU``, ``certification ECU``."""
        return {
            SystemType.NONE: None,
            SystemType.ECM_INTEGRATED: "ecm",
            SystemType.TRANSPONDER_KEY_ECU: "transponder key ECU",
            SystemType.SMART_KEY: "certification ECU",
        }[self.system_type]

    def key_store_addressing(self) -> IsoTpAddressing | None:
        """ISO-TP addresses of the node holding the key codes (``None``: no immobilizer)."""
        if self.system_type is SystemType.NONE:
            return None
        node = self.addresses.immobilizer or self.addresses.ecm
        return node.isotp_addressing()

    def immobilizer_addressing(self) -> IsoTpAddressing | None:
        """ISO-TP addresses of the transponder key ECU or certification ECU, if there is one."""
        node = self.addresses.immobilizer
        return None if node is None else node.isotp_addressing()

    def ecm_addressing(self) -> IsoTpAddressing:
        return self.addresses.ecm.isotp_addressing()

    @property
    def capabilities_did(self) -> bytes:
        """The 2-byte value of DID 0x010A: system type code, reset supported (0/1)."""
        return bytes((self.system_type.did_code, int(self.reset_supported)))

    def is_lab(self, basis_field: str) -> bool:
        """Whether the value named ``basis_field`` is a lab default."""
        return self.basis[basis_field].is_lab

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the chart's layout, with each basis note spelled out)."""
        limits: dict[str, Any] = {}
        if self.key_limits.automatic is not None:
            limits["automatic"] = _limit_dict(self.key_limits.automatic)
        if self.key_limits.additional is not None:
            limits["additional"] = _limit_dict(self.key_limits.additional)
        if self.key_limits.ecm_codes is not None:
            limits["ecm_codes"] = self.key_limits.ecm_codes
            limits["last_code_is_sub"] = True
        if self.key_limits.smart_keys is not None:
            limits["smart_keys"] = self.key_limits.smart_keys
        immobilizer = self.addresses.immobilizer
        return {
            "model": self.model,
            "year": self.year,
            "system_type": self.system_type.value,
            "did_0x010a_code": self.system_type.did_code,
            "reset_supported": self.reset_supported,
            "key_limits": limits,
            "factory_keys": {
                "masters": self.factory_keys.masters,
                "subs": self.factory_keys.subs,
                "smart_keys": self.factory_keys.smart_keys,
            },
            "keyless_entry": self.keyless_entry.value,
            "key_store": self.key_store,
            "addresses": {
                "ecm": _node_dict(self.addresses.ecm),
                "immobilizer": None if immobilizer is None else _node_dict(immobilizer),
            },
            "waiting_period_s": self.waiting_period_s,
            "basis": {
                name: {"kind": basis.kind.value, "source": basis.source, "note": basis.note}
                for name, basis in self.basis.items()
            },
        }


_LIMIT_FIELDS: dict[SystemType, tuple[str, ...]] = {
    SystemType.NONE: (),
    SystemType.ECM_INTEGRATED: ("ecm_codes",),
    SystemType.TRANSPONDER_KEY_ECU: ("automatic", "additional"),
    SystemType.SMART_KEY: ("smart_keys",),
}
_BASIS_LIMIT_NAMES = {
    "automatic": "automatic_registration",
    "additional": "additional_registration",
    "ecm_codes": "ecm_codes",
    "smart_keys": "smart_keys",
}


def _limit_dict(limit: RegistrationLimit) -> dict[str, int]:
    return {"masters": limit.masters, "subs": limit.subs}


def _node_dict(node: NodeAddress) -> dict[str, str | None]:
    def hex_or_none(value: int | None, width: int) -> str | None:
        return None if value is None else f"0x{value:0{width}X}"

    return {
        "request": hex_or_none(node.request_id, 3),
        "response": hex_or_none(node.response_id, 3),
        "functional": hex_or_none(node.functional_id, 3),
        "extended_address": hex_or_none(node.extended_address, 2),
    }


_SEPARATORS = re.compile(r"[\s\-_]+")


def normalize_model(name: str) -> str:
    """The lookup key of a model name: upper case without spaces, ``-`` or ``_``.

    ``"IS F"``, ``"is-f"`` and ``"ISF"`` all give ``"ISF"``; ``"ls 430"`` gives ``"LS430"``.
    """
    return _SEPARATORS.sub("", name).upper()


class Catalog:
    """The support chart: model-years by model, looked up case- and separator-insensitively."""

    def __init__(self, entries: Iterable[ModelYear]) -> None:
        by_model: dict[str, dict[int, ModelYear]] = {}
        keys: dict[str, str] = {}
        for entry in entries:
            key = normalize_model(entry.model)
            if keys.setdefault(key, entry.model) != entry.model:
                raise CatalogError(
                    f"models {keys[key]!r} and {entry.model!r} are the same name when normalized"
                )
            years = by_model.setdefault(entry.model, {})
            if entry.year in years:
                raise CatalogError(f"{entry.name} appears twice")
            years[entry.year] = entry
        self._by_model = {
            model: dict(sorted(years.items())) for model, years in sorted(by_model.items())
        }
        self._keys = keys

    @classmethod
    def load(cls) -> Catalog:
        """The chart shipped with the package (parsed once, then cached)."""
        return _load_packaged()

    def __len__(self) -> int:
        return sum(len(years) for years in self._by_model.values())

    def __iter__(self) -> Iterator[ModelYear]:
        for years in self._by_model.values():
            yield from years.values()

    def models(self) -> tuple[str, ...]:
        """The chart's models in alphabetical order, spelled as in the bulletin."""
        return tuple(self._by_model)

    def canonical_model(self, model: str) -> str:
        """The chart's spelling of ``model`` (any case; ``IS-F``/``ISF``/``is f`` work).

        Raises :class:`CatalogError` listing the known models.
        """
        canonical = self._keys.get(normalize_model(model))
        if canonical is None:
            raise CatalogError(f"unknown model {model!r}; known models: {', '.join(self.models())}")
        return canonical

    def years(self, model: str) -> tuple[int, ...]:
        """The model years of ``model`` in the chart (ascending)."""
        return tuple(self._by_model[self.canonical_model(model)])

    def lookup(self, model: str, year: int) -> ModelYear:
        """The entry of ``model`` in ``year``.

        Raises :class:`CatalogError` for an unknown model (listing the known models) or a year
        the model was not built in (listing its years).
        """
        canonical = self.canonical_model(model)
        entry = self._by_model[canonical].get(year)
        if entry is None:
            raise CatalogError(
                f"no {canonical} for model year {year}; {canonical} years: "
                f"{_describe_years(tuple(self._by_model[canonical]))}"
            )
        return entry

    def entries(self, model: str | None = None, year: int | None = None) -> list[ModelYear]:
        """Entries filtered by model and/or year, ordered by model then year.

        Raises :class:`CatalogError` when a filter names nothing in the chart: an unknown
        model, a year that model was not built in, or a year with no entry at all.
        """
        if model is not None and year is not None:
            return [self.lookup(model, year)]
        if model is not None:
            return list(self._by_model[self.canonical_model(model)].values())
        found = [entry for entry in self if year is None or entry.year == year]
        if not found and year is not None:
            all_years = sorted({entry.year for entry in self})
            span = f"{all_years[0]}-{all_years[-1]}" if all_years else "nothing"
            raise CatalogError(f"no model in the chart for model year {year}; it covers {span}")
        return found


def _describe_years(years: tuple[int, ...]) -> str:
    """``1998-2000`` or ``2007-2011, 2013-2015`` (consecutive runs joined)."""
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


# --- parsing -------------------------------------------------------------------------------
#
# The chart's layout is declared as pydantic models (``_…Layout``), one per JSON object, read
# into the dataclasses above; a validation error becomes a CatalogError "<field path> <phrase>".


def parse_chart(text: str, *, origin: str = "support chart") -> Catalog:
    """Parse and validate a chart in the ``support_chart.json`` layout.

    Any problem raises :class:`CatalogError` starting with ``origin`` and naming the entry
    (index, model and year when readable) and the field.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{origin}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from exc
    try:
        chart = _validate(_ChartLayout, document, "chart")
    except CatalogError as exc:
        raise CatalogError(f"{origin}: {exc}") from exc
    entries = []
    for index, raw in enumerate(chart.entries):
        try:
            entry = _validate(_EntryLayout, raw, "entry", sources=chart.sources)
            entries.append(entry.model_year(chart.sources))
        except CatalogError as exc:
            raise CatalogError(f"{origin}: {_entry_label(index, raw)}: {exc}") from exc
    try:
        return Catalog(entries)
    except CatalogError as exc:
        raise CatalogError(f"{origin}: {exc}") from exc


def _entry_label(index: int, raw: object) -> str:
    label = f"entry #{index}"
    if isinstance(raw, dict):
        model, year = raw.get("model"), raw.get("year")
        if isinstance(model, str) or isinstance(year, int):
            label += f" ({model} {year})"
    return label


_M = TypeVar("_M", bound=BaseModel)


def _validate(
    layout: type[_M], value: object, root: str, *, separator: str = " ", **context: object
) -> _M:
    """``value`` as a ``layout``; errors name the field's path below ``root`` (``separator``
    between the path and the phrase: the chart's ``" "``, a car profile's ``": "``)."""
    try:
        return layout.model_validate(value, context=context)
    except ValidationError as exc:
        raise CatalogError(_describe(exc.errors(), root, separator)) from None


_PHRASES = {
    "model_type": "must be an object, got {kind}",
    "dict_type": "must be an object, got {kind}",
    "list_type": "must be a list, got {kind}",
    "string_type": "must be a non-empty string, got {got}",
    "string_too_short": "must be a non-empty string, got {got}",
    "int_type": "must be an integer, got {got}",
    "bool_type": "must be true or false, got {got}",
}
"""What pydantic's error types say about a chart field (custom errors carry their own)."""


def _describe(errors: list[ErrorDetails], root: str, separator: str = " ") -> str:
    """The first problem; unknown fields of an object come before the problems inside it."""

    def path(loc: tuple[int | str, ...]) -> str:
        # A table's bad key is reported at the key itself (pydantic appends "[key]").
        # A key that is not printable is shown quoted with escapes, never raw on a terminal.
        parts = (str(part) for part in loc if part != "[key]")
        return ".".join(p if p.isprintable() else repr(p) for p in parts) or root

    error = errors[0]
    unknown = [e["loc"] for e in errors if e["type"] == "extra_forbidden"]
    enclosing = [loc[:-1] for loc in unknown if error["loc"][: len(loc) - 1] == loc[:-1]]
    if enclosing:
        parent = min(enclosing, key=len)
        names = sorted(str(loc[-1]) for loc in unknown if loc[:-1] == parent)
        return f"{path(parent)}: unknown field(s) {names}"
    if error["type"] == "missing":
        return f"{path(error['loc'])}: missing"
    phrase = _PHRASES.get(error["type"])
    if phrase is None:
        return f"{path(error['loc'])}{separator}{error['msg']}"
    value = error["input"]
    described = phrase.format(got=repr(value), kind=_json_type(value))
    return f"{path(error['loc'])}{separator}{described}"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _invalid(phrase: str, value: object, **context: str) -> PydanticCustomError:
    """A custom validation error: ``phrase`` follows the field's path (``{got}``: the value)."""
    return PydanticCustomError("chart", phrase, {"got": repr(value), **context})


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid(_PHRASES["string_type"], value)
    return value


def _hex_id(value: object) -> int:
    if not re.fullmatch(r"0[xX][0-9a-fA-F]+", _text(value)):
        raise _invalid("must be a hex string like '0x7E0': {got}", value)
    return int(str(value), 16)


def _non_negative(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _invalid("must be a number ≥ 0, got {got}", value)
    return float(value)


_E = TypeVar("_E", bound=StrEnum)


def _choice(enum: type[_E]) -> PlainValidator:
    """A non-empty string naming one of ``enum``'s values."""
    allowed = ", ".join(member.value for member in enum)

    def parse(value: object) -> _E:
        text = _text(value)
        try:
            return enum(text)
        except ValueError:
            raise _invalid("must be one of {allowed}; got {got}", value, allowed=allowed) from None

    return PlainValidator(parse)


def _chart_format(text: str) -> str:
    if text != CHART_FORMAT:
        raise _invalid(f"must be {CHART_FORMAT!r}", text)
    return text


def _supported_version(version: int) -> int:
    if version != CHART_VERSION:
        raise _invalid(f"{{got}} is not supported (this ecusim reads {CHART_VERSION})", version)
    return version


def _known_source(source: str, info: ValidationInfo) -> str:
    """A basis names a source of the chart's ``sources`` (the validation context)."""
    if info.context is None or source not in info.context["sources"]:
        raise _invalid("{got} is not in the chart's sources", source)
    return source


_Text = Annotated[StrictStr, Field(min_length=1)]
_HexId = Annotated[int, PlainValidator(_hex_id)]


class _ChartLayout(BaseModel):
    """The chart document: its header, source notes and (each read on its own) entries."""

    format: Annotated[_Text, AfterValidator(_chart_format)]
    version: Annotated[StrictInt, AfterValidator(_supported_version)]
    sources: dict[str, _Text]
    entries: list[object]


class _Layout(BaseModel):
    """A chart object: no fields but the declared ones."""

    model_config = ConfigDict(extra="forbid")


_T = TypeVar("_T")


def _build(kind: Callable[..., _T], layout: BaseModel | None) -> _T | None:
    """The dataclass ``kind`` of a flat layout's fields (``None`` for an absent object)."""
    return None if layout is None else kind(**layout.model_dump())


class _LimitLayout(_Layout):
    masters: StrictInt
    subs: StrictInt


class _KeyLimitsLayout(_Layout):
    automatic: _LimitLayout | None = None
    additional: _LimitLayout | None = None
    ecm_codes: StrictInt | None = None
    smart_keys: StrictInt | None = None


class _FactoryKeysLayout(_Layout):
    masters: StrictInt
    subs: StrictInt
    smart_keys: StrictInt


class _NodeLayout(_Layout):
    """A node's addresses; the JSON names are aliases of :class:`NodeAddress`'s fields."""

    request_id: Annotated[_HexId, Field(alias="request")]
    response_id: Annotated[_HexId, Field(alias="response")]
    functional_id: Annotated[_HexId | None, Field(alias="functional")] = None
    extended_address: _HexId | None = None


class _AddressesLayout(_Layout):
    ecm: _NodeLayout
    immobilizer: _NodeLayout | None = None


class _BasisLayout(_Layout):
    kind: Annotated[BasisKind, _choice(BasisKind)]
    source: Annotated[_Text, AfterValidator(_known_source)]


class _EntryLayout(_Layout):
    model: _Text
    year: StrictInt
    system_type: Annotated[SystemType, _choice(SystemType)]
    reset_supported: StrictBool
    key_limits: _KeyLimitsLayout
    factory_keys: _FactoryKeysLayout
    keyless_entry: Annotated[KeylessEntry, _choice(KeylessEntry)]
    addresses: _AddressesLayout
    waiting_period_s: Annotated[float, PlainValidator(_non_negative)]
    basis: dict[str, _BasisLayout]

    def model_year(self, sources: Mapping[str, str]) -> ModelYear:
        """The entry as a :class:`ModelYear` (whose checks may raise :class:`CatalogError`)."""
        limits, addresses = self.key_limits, self.addresses
        return ModelYear(
            model=self.model,
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
                ecm=NodeAddress(**addresses.ecm.model_dump()),
                immobilizer=_build(NodeAddress, addresses.immobilizer),
            ),
            waiting_period_s=self.waiting_period_s,
            basis={
                name: Basis(kind=basis.kind, source=basis.source, note=sources[basis.source])
                for name, basis in self.basis.items()
            },
        )


@functools.cache
def _load_packaged() -> Catalog:
    resource = resources.files("ecusim").joinpath(*CHART_RESOURCE)
    origin = "/".join(("ecusim", *CHART_RESOURCE))
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{origin}: cannot read the support chart: {exc}") from exc
    return parse_chart(text, origin=origin)
