"""``ecusim vin``: check a VIN and show what it says (WMI, model year, check digit).

With ``--year`` it also checks, with the rule ``ecusim run --vin`` applies
(:func:`ecusim.catalog.vin.check_vin_matches`), that the VIN is a Lexus VIN of that model year.

Exit status: 0 when the VIN is valid (and matches ``--year``), 1 when it is not (the verdict says
why), 2 for a usage error (no VIN given).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ecusim.catalog.vin import (
    CHECK_DIGIT_POSITION,
    LEXUS_WMIS,
    MODEL_YEAR_POSITION,
    VinError,
    VinInfo,
    check_digit,
    check_vin_matches,
    decode_vin,
    validate_vin,
)

EXIT_VALID = 0
EXIT_INVALID = 1

BULLETIN_YEARS = (1997, 2015)
"""Model years the Immobilizer and Smart Key Reset bulletin applies to."""


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "vin",
        help="check a VIN: length, characters, check digit; show its WMI and model year",
        description="Check a VIN (17 characters, no I/O/Q, North American check digit at "
        "position 9) and show its WMI and model year (position 10).",
        epilog="Exit status: 0 valid, 1 invalid (the first line says why), 2 usage error.",
    )
    parser.add_argument("vin", metavar="VIN", help="the VIN to check (any case)")
    parser.add_argument(
        "--year",
        type=int,
        help="also check that it is a Lexus VIN of this model year (what 'ecusim run --vin' "
        "requires)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = check(args.vin.strip(), year=args.year)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return EXIT_VALID if report["valid"] else EXIT_INVALID


def check(vin: str, *, year: int | None = None) -> dict[str, Any]:
    """Everything ``ecusim vin`` reports about ``vin``, JSON-ready; with ``year``, whether it is
    a Lexus VIN of that model year (``matches_year``; if not, ``valid`` is false and ``reason``
    says why, as ``ecusim run --vin`` would)."""
    report: dict[str, Any] = {"vin": vin, "valid": True, "reason": None, "position": None}
    try:
        validate_vin(vin)
    except VinError as exc:
        report.update(valid=False, reason=exc.reason, position=exc.position)
    if year is not None:
        report["year"] = year
        report["matches_year"] = False
        if report["valid"]:
            try:
                check_vin_matches(vin, year)
            except VinError as exc:
                report.update(valid=False, reason=exc.reason, position=exc.position)
            else:
                report["matches_year"] = True
    try:
        info = decode_vin(vin)
    except VinError:
        return report  # wrong length or character: nothing more to decode
    upper = vin.upper()
    report["vin"] = upper
    report["check_digit"] = {
        "position": CHECK_DIGIT_POSITION,
        "expected": check_digit(upper),
        "found": upper[CHECK_DIGIT_POSITION - 1],
        "ok": info.check_digit_ok,
    }
    report.update(_decoded(info, upper))
    return report


def _decoded(info: VinInfo, upper: str) -> dict[str, Any]:
    year = info.model_year
    return {
        "wmi": info.wmi,
        "lexus_wmi": info.is_lexus,
        "model_year": year,
        "model_year_code": upper[MODEL_YEAR_POSITION - 1],
        "in_bulletin_years": year is not None and BULLETIN_YEARS[0] <= year <= BULLETIN_YEARS[1],
    }


def format_report(report: dict[str, Any]) -> str:
    """The human-readable verdict: ``VALID`` or ``INVALID: <reason>``, then the details."""
    lines = ["VALID" if report["valid"] else f"INVALID: {report['reason']}"]
    digit = report.get("check_digit")
    if digit is None:  # wrong length or character: the reason says it all
        return "\n".join(lines)
    wmi = report["wmi"]
    if report["lexus_wmi"]:
        wmi_text = f"{wmi} (a Lexus WMI)"
    else:
        wmi_text = f"{wmi} (not a Lexus WMI; Lexus uses {', '.join(sorted(LEXUS_WMIS))})"
    code = report["model_year_code"]
    year = report["model_year"]
    if year is None:
        year_text = f"unknown (position {MODEL_YEAR_POSITION} {code!r} is not a year code)"
    else:
        first, last = BULLETIN_YEARS
        inside = "within" if report["in_bulletin_years"] else "outside"
        year_text = (
            f"{year} (position {MODEL_YEAR_POSITION} {code!r}; {inside} the reset bulletin's "
            f"{first}-{last})"
        )
    if digit["ok"]:
        digit_text = f"{digit['found']} (position {digit['position']}, correct)"
    else:
        digit_text = (
            f"expected {digit['expected']!r}, found {digit['found']!r} "
            f"(position {digit['position']})"
        )
    lines += [
        f"VIN          {report['vin']}",
        *([f"car          a {report['year']} Lexus"] if report.get("matches_year") else []),
        f"WMI          {wmi_text}",
        f"model year   {year_text}",
        f"check digit  {digit_text}",
    ]
    return "\n".join(lines)
