"""Reads an ECU file: TOML (``tomllib``) → pydantic validation → :class:`DeclarativeEcu`.

Every problem is one :class:`EcuFileError` line, ``<file>: <key path>: <what is wrong>``, e.g.
``my-ecu.toml: dids.0xF190.value: not hex``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from protocol.ecu_file.build import DeclarativeEcu, EcuFileValueError, build_ecu
from protocol.ecu_file.schema import EcuFile
from protocol.errors import ConfigurationError
from protocol.nvm import NvmStore
from protocol.security_algorithms import AlgorithmRegistry
from protocol.seed_source import SeedSource


class EcuFileError(ConfigurationError):
    """An ECU file that cannot be read or used; the message is one line naming file and key."""


def load_ecu_file(
    path: Path | str,
    *,
    registry: AlgorithmRegistry | None = None,
    seed_source: SeedSource | None = None,
    security_nvm: NvmStore | None = None,
) -> DeclarativeEcu:
    """The ECU described by the TOML file at ``path`` (see docs/own-ecu.md)."""
    spec = read_ecu_file(path)
    try:
        return build_ecu(
            spec, registry=registry, seed_source=seed_source, security_nvm=security_nvm
        )
    except EcuFileValueError as exc:
        raise EcuFileError(f"{path}: {exc}") from None


def read_ecu_file(path: Path | str) -> EcuFile:
    """The validated contents of the file (nothing built yet)."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise EcuFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EcuFileError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EcuFileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return EcuFile.model_validate(data)
    except ValidationError as exc:
        raise EcuFileError(f"{path}: {describe_error(exc.errors())}") from None


def describe_error(errors: list[ErrorDetails]) -> str:
    """The first validation error as ``key.path: message``."""
    error = errors[0]
    loc = [_key(part) for part in error["loc"] if part != "[key]"]
    where = ".".join(loc) or "(top level)"
    return f"{where}: {_message(error)}"


_TYPE_NAMES = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "text in quotes",
    "bool_type": "true or false",
    "list_type": "a list [...]",
    "dict_type": "a table",
    "model_type": "a table",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    value: Any = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]}, got {_shown(value)}"
    bounds = {
        "greater_than_equal": ("≥", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("≤", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        sign, name = bounds[kind]
        return f"must be {sign} {_number(ctx[name])}, got {_number(value)}"
    if kind == "finite_number":
        return f"must be a finite number, got {_number(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    return str(error["msg"])


def _key(part: int | str) -> str:
    """A key of the path as written, or quoted with escapes if it is not printable."""
    text = str(part)
    return text if text.isprintable() else repr(text)


def _number(value: Any) -> str:
    """Integers in decimal and hex (IDs and bytes are usually written in hex)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 9:
        return f"{value} (0x{value:X})"
    return repr(value)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)
