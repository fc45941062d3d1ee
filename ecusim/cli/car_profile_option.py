"""``--car FILE``: a car profile (docs/car-profiles.md) in place of ``--model/--year``, for every
command that needs a car's addresses (``run``, ``demo``, ``monitor``, ``tool``, ``trace``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ecusim.catalog.profile import CarProfile, ProfileError, load_profile
from ecusim.cli.errors import CliError


def add_car_profile_argument(
    group: argparse.ArgumentParser | argparse._ArgumentGroup, what: str
) -> None:
    """Add ``--car FILE``; ``what``: what the command does with the car (for the help)."""
    group.add_argument(
        "--car",
        type=Path,
        metavar="FILE",
        help=f"{what} the car this car profile describes (TOML; 'ecusim models --export M Y' "
        "writes one; docs/car-profiles.md) instead of --model/--year",
    )


def read_car_profile(args: argparse.Namespace) -> CarProfile | None:
    """``--car FILE`` read and checked (``None`` without it); with ``--model``/``--year`` too,
    or a malformed profile, a one-line usage error (exit 2)."""
    if args.car is None:
        return None
    if args.model is not None or args.year is not None:
        raise CliError("--car: the profile names the model and year: leave out --model/--year", 2)
    try:
        return load_profile(args.car)
    except ProfileError as exc:
        raise CliError(str(exc), exit_code=2) from exc
