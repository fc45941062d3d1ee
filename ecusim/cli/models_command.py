"""``ecusim models``: the support chart (the immobilizer of each model-year), as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ecusim.car.car_profile import profile_of
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import Catalog, CatalogError, KeylessEntry, ModelYear, SystemType
from ecusim.catalog.vin import lab_vin
from ecusim.cli.errors import CliError
from ecusim.errors import EcusimError

LAB_MARKER = "*"
"""Appended to a value whose basis is a lab default rather than a public source."""

_COLUMNS = (
    "MODEL",
    "YEAR",
    "SYSTEM",
    "RESET",
    "KEY LIMITS",
    "FACTORY KEYS",
    "KEYLESS",
    "WAIT",
    "KEY CODES IN (ISO-TP ADDRESS)",
)


_KEYLESS = {KeylessEntry.ROM: "ROM", KeylessEntry.PROGRAMMABLE: "prog."}

LEGEND = (
    f"{LAB_MARKER} lab default (no public source); unmarked: public source. Model years: lab.",
    "M/S: master/sub keys; auto/add: automatic/additional registration limits.",
    "KEYLESS ROM: remotes fixed by a plug-in ROM. WAIT: smart key waiting period after a reset.",
    "RESET no: no scan-tool reset (ECM-integrated: see the SPOC bulletin; none: no immobilizer).",
    "Every ECM also answers 0x7E0->0x7E8 (functional 0x7DF). Basis notes: --json, "
    "docs/support-chart.md.",
)
"""The lines printed under the table."""


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "models",
        help="show the support chart: immobilizer type, reset support, key limits per model-year",
        description="Show the Lexus Vehicle Support chart of the Immobilizer and Smart Key Reset "
        "bulletin: one row per model-year. A value marked '*' is a lab default (no public "
        "source); unmarked values come from a public source (see --json for each note, and "
        "docs/support-chart.md).",
    )
    parser.add_argument(
        "--model", metavar="M", help="only this model (any case; 'IS F', 'IS-F', 'ISF' work)"
    )
    parser.add_argument("--year", metavar="Y", type=_year, help="only this model year")
    parser.add_argument(
        "--json", action="store_true", help="print the entries as JSON (with each basis note)"
    )
    parser.add_argument(
        "--export",
        nargs=2,
        metavar=("MODEL", "YEAR"),
        help="print the entry of MODEL YEAR as a car profile (TOML) to edit and run with "
        "'ecusim run --car FILE' (docs/car-profiles.md)",
    )
    parser.set_defaults(func=run)


def _year(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a model year: {text!r}") from None


def run(args: argparse.Namespace) -> int:
    if args.export is not None:
        return _export(*args.export)
    catalog = _load()
    try:
        entries = catalog.entries(model=args.model, year=args.year)
    except CatalogError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    if args.json:
        print(json.dumps([entry.to_dict() for entry in entries], indent=2))
        return 0
    print(format_table(entries))
    if len(entries) == 1:
        print()
        print(format_basis(entries[0]))
    return 0


def _export(model: str, year_text: str) -> int:
    """``--export MODEL YEAR``: the entry as the car profile of the car built from it."""
    try:
        entry = _load().lookup(model, _year(year_text))
    except argparse.ArgumentTypeError as exc:
        raise CliError(f"--export: {exc}", exit_code=2) from exc
    except CatalogError as exc:
        raise CliError(f"--export: {exc}", exit_code=2) from exc
    try:
        car = Vehicle(entry, lab_vin(entry.model, entry.year))
    except EcusimError as exc:
        raise CliError(f"--export: {exc}") from exc
    sys.stdout.write(profile_of(car.model_year, car.ecus).to_toml())
    return 0


def _load() -> Catalog:
    try:
        return Catalog.load()
    except CatalogError as exc:  # a broken installation: report it, never a traceback
        raise CliError(str(exc)) from exc


def _marked(text: str, entry: ModelYear, *basis_fields: str) -> str:
    lab = any(entry.is_lab(name) for name in basis_fields if name in entry.basis)
    return f"{text}{LAB_MARKER}" if lab else text


def _limits_cell(entry: ModelYear) -> str:
    limits = entry.key_limits
    parts = []
    if limits.automatic is not None:
        parts.append(
            _marked(f"auto {limits.automatic.describe()}", entry, "automatic_registration")
        )
    if limits.additional is not None:
        parts.append(
            _marked(f"add {limits.additional.describe()}", entry, "additional_registration")
        )
    if limits.ecm_codes is not None:
        parts.append(_marked(f"{limits.ecm_codes} codes, last=sub", entry, "ecm_codes"))
    if limits.smart_keys is not None:
        parts.append(_marked(f"{limits.smart_keys} smart keys", entry, "smart_keys"))
    return ", ".join(parts) or "-"


def _address_cell(entry: ModelYear) -> str:
    if entry.system_type is SystemType.NONE:
        return "-"
    node = entry.addresses.immobilizer or entry.addresses.ecm
    where = {
        SystemType.ECM_INTEGRATED: "ECM",
        SystemType.TRANSPONDER_KEY_ECU: "key ECU",
        SystemType.SMART_KEY: "cert. ECU",
    }[entry.system_type]
    return _marked(f"{where} {node.describe()}", entry, "addresses")


def _row(entry: ModelYear) -> tuple[str, ...]:
    wait = f"{entry.waiting_period_s:g} s" if entry.waiting_period_s else "-"
    return (
        entry.model,
        str(entry.year),
        _marked(entry.system_type.label, entry, "system_type"),
        _marked("yes" if entry.reset_supported else "no", entry, "reset_supported"),
        _limits_cell(entry),
        _marked(entry.factory_keys.describe(), entry, "factory_keys"),
        _marked(_KEYLESS[entry.keyless_entry], entry, "keyless_entry"),
        _marked(wait, entry, "waiting_period") if entry.waiting_period_s else wait,
        _address_cell(entry),
    )


def format_table(entries: list[ModelYear]) -> str:
    """The entries as an aligned text table with a legend."""
    rows = [_COLUMNS, *(_row(entry) for entry in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    count = len(entries)
    lines.append("")
    lines.append(f"{count} model-year{'s' if count != 1 else ''}.")
    lines.extend(LEGEND)
    return "\n".join(lines)


def format_basis(entry: ModelYear) -> str:
    """The basis of each value of one entry, one line each."""
    lines = [f"Basis of {entry.name} ({entry.system_type.label}):"]
    width = max(len(name) for name in entry.basis)
    for name, basis in entry.basis.items():
        lines.append(f"  {name.ljust(width)}  {basis.kind.value:6}  {basis.note}")
    return "\n".join(lines)
