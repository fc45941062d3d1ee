"""``ecusim rom``: make and read keyless-entry ROM images (the 1992-93 SC receivers' plug-in ROM).

``rom new`` is the parts counter: a new ROM with its 1, 2 or 3 remotes (89705-50943/44/45), written
as a lab ROM image whose remote codes are printed. ``rom show`` reads one back. Install an image
in a car with ``ecusim run --rom FILE`` (docs/keyless-entry.md).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

from ecusim.car.keyless import ROM_KIT_PART_NUMBERS, KeylessError, RomChip
from ecusim.cli.errors import CliError


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rom",
        help="make or read a keyless-entry ROM image (1992-93 SC receivers)",
        description="The 1992-93 SC300/SC400 keyless-entry receiver holds its remote codes in a "
        "plug-in, non-programmable ROM sold with its 1, 2 or 3 remotes (89705-50943/44/45). "
        "Make a new ROM image and its remote codes, or show an image. Install it with "
        "'ecusim run --rom FILE'.",
    )
    actions = parser.add_subparsers(dest="rom_action", metavar="ACTION", required=True)

    new = actions.add_parser(
        "new",
        help="a new ROM and its remotes, written as an image file",
        description="Write a new ROM image (kit part number by number of remotes: "
        + ", ".join(f"{count}: {part}" for count, part in ROM_KIT_PART_NUMBERS.items())
        + ") and print the codes of its remotes.",
    )
    new.add_argument(
        "--remotes",
        type=int,
        choices=sorted(ROM_KIT_PART_NUMBERS),
        default=2,
        help="remotes in the kit (default 2)",
    )
    new.add_argument("--out", type=Path, required=True, metavar="FILE", help="image file to write")
    new.add_argument("--seed", type=int, help="seed of the remote codes (default: random)")
    new.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    new.set_defaults(func=run_new)

    show = actions.add_parser(
        "show",
        help="show a ROM image: part number and remote codes",
        description="Print a ROM image's part number and remote codes; a damaged or foreign "
        "file is refused.",
    )
    show.add_argument("file", type=Path, metavar="FILE", help="the ROM image")
    show.set_defaults(func=run_show)


def _describe(rom: RomChip) -> list[str]:
    count = len(rom.codes)
    lines = [f"ROM {rom.part_number} ({count} remote{'s' if count != 1 else ''})"]
    lines += [f"remote {index}: {code:08X}" for index, code in enumerate(rom.codes, start=1)]
    return lines


def run_new(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed) if args.seed is not None else random.SystemRandom()
    try:
        rom, _ = RomChip.kit(args.remotes, rng)
    except KeylessError as exc:  # argparse's choices already keep --remotes in 1..3
        raise CliError(f"--remotes: {exc}", exit_code=2) from exc
    path: Path = args.out
    try:
        with path.open("wb" if args.force else "xb") as file:
            file.write(rom.to_image())
    except FileExistsError:
        raise CliError(f"--out: {path} exists (use --force to overwrite it)", exit_code=2) from None
    except OSError as exc:
        raise CliError(f"--out: cannot write ROM image {path}: {exc.strerror or exc}") from exc
    for line in _describe(rom):
        print(line)
    print(f"written to {path}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    try:
        rom = RomChip.load(args.file)
    except KeylessError as exc:
        raise CliError(str(exc)) from exc
    for line in _describe(rom):
        print(line)
    return 0
