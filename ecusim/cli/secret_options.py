"""``--secret-file`` for every command that runs a car, a portal or a scan tool
(docs/secrets.md): the flag, else ``$ECUSIM_SECRET_FILE``, else the public lab secret."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Final

from ecusim.cli.errors import CliError
from ecusim.secret_file import ENV_VAR, LAB_SECRETS, SecretFileError, Secrets, load

__all__ = ["FLAG", "LAB_NOTICE", "USAGE", "add_secret_argument", "load_secrets", "secret_path"]

FLAG: Final = "--secret-file"
USAGE: Final = 2
"""Exit status of an unusable secret file (bad input)."""
LAB_NOTICE: Final = (
    "running on the public lab secret (anyone can compute its Pass-Codes): use --secret-file "
    f"FILE or ${ENV_VAR} (make one with 'ecusim secret new FILE')"
)
"""What a car or a portal says at start-up without a secret file."""


def add_secret_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, suppress: bool = False
) -> None:
    """Add ``--secret-file FILE``. ``suppress``: absent leaves the attribute alone (for a flag
    also given on a parent parser, as ``ecusim portal --secret-file F serve``)."""
    parser.add_argument(
        FLAG,
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS if suppress else None,
        help=f"the master secret and level 0x01 key (docs/secrets.md; default ${ENV_VAR}, "
        "else the public lab secret)",
    )


def secret_path(args: argparse.Namespace) -> tuple[Path, str] | None:
    """The secret file to use and where it was named (the flag wins over the environment)."""
    given: Path | None = getattr(args, "secret_file", None)
    if given is not None:
        return given, FLAG
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env), f"${ENV_VAR}"
    return None


def load_secrets(args: argparse.Namespace) -> Secrets:
    """The secrets named by ``args`` or the environment, :data:`LAB_SECRETS` if none is (its
    ``source`` is ``None``: say :data:`LAB_NOTICE`); an unusable file is a one-line
    :class:`CliError`."""
    found = secret_path(args)
    if found is None:
        return LAB_SECRETS
    path, where = found
    try:
        return load(path)
    except SecretFileError as exc:
        raise CliError(f"{where}: {exc}", USAGE) from None
