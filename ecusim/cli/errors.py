"""Errors the CLI reports as one line on stderr, never as a traceback."""

from __future__ import annotations

from ecusim.errors import EcusimError


class CliError(EcusimError):
    """A user-facing failure: bad input, an unusable bus, an unreadable state file."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
