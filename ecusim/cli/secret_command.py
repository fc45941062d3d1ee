"""``ecusim secret new FILE``: a fresh random secret file for a car and its portal
(docs/secrets.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ecusim.cli.errors import CliError
from ecusim.secret_file import SecretFileError, write_new


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "secret",
        help="make a secret file (master secret and level 0x01 key) for cars and the portal",
        description="Secret files hold the master secret of the Pass-Codes and the level 0x01 "
        "key; give the same file to the car and the portal with --secret-file (docs/secrets.md).",
    )
    actions = parser.add_subparsers(dest="secret_command", metavar="ACTION", required=True)
    new = actions.add_parser(
        "new", help="write fresh random secrets to FILE (mode 0600)", description=None
    )
    new.add_argument("file", type=Path, metavar="FILE")
    new.add_argument("--force", action="store_true", help="replace an existing FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        write_new(args.file, force=args.force)
    except SecretFileError as exc:
        raise CliError(str(exc)) from None
    print(
        f"ecusim: new secrets in {args.file} (mode 0600): give it to the car and the portal "
        f"with --secret-file {args.file}"
    )
    return 0
