"""The secret file: the master secret and the level 0x01 key of a car and its portal
(docs/secrets.md, diagnostic-contract.md §5).

Without one, cars and the portal run on :data:`LAB_SECRETS`, the public lab constants of
diagnostic-contract.md §5: anyone can compute their Pass-Codes. The file is TOML::

    format = "ecusim-secrets/1"
    master_secret = "<64 hex digits>"
    diag_key = "<64 hex digits>"

:func:`load` refuses, with one :class:`SecretFileError` line naming the file and the problem, a
file that is missing, not TOML, of another format, with a key missing, unknown, not hex or of the
wrong length, or readable or writable by group or others (as ssh refuses a private key).
:func:`write_new` writes a fresh random one with mode 0600.
"""

from __future__ import annotations

import os
import secrets as random_bytes
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ecusim.errors import EcusimError
from protocol.passcode import DEFAULT_DIAG_KEY, DEFAULT_MASTER_SECRET

__all__ = [
    "ENV_VAR",
    "FORMAT",
    "LAB_SECRETS",
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "NEW_SECRET_BYTES",
    "SecretFileError",
    "Secrets",
    "load",
    "render",
    "write_new",
]

FORMAT: Final = "ecusim-secrets/1"
"""The value of the file's ``format`` key."""
ENV_VAR: Final = "ECUSIM_SECRET_FILE"
"""The environment variable the ``ecusim`` commands read when ``--secret-file`` is absent."""
NEW_SECRET_BYTES: Final = 32
"""Bytes of each value :func:`write_new` draws."""
MIN_SECRET_BYTES: Final = 16
MAX_SECRET_BYTES: Final = 64
"""Each value must be 16 to 64 bytes (32 to 128 hex digits)."""
_KEYS: Final = ("master_secret", "diag_key")
_GROUP_OR_OTHERS: Final = 0o077


class SecretFileError(EcusimError, ValueError):
    """A secret file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Secrets:
    """A car's and its portal's secrets (diagnostic-contract.md §5): ``master_secret`` ``M``
    (the Pass-Code) and ``diag_key`` ``K_diag`` (the level 0x01 key). ``source``: the file they
    came from (``None``: the public lab constants). Never shown in ``repr``."""

    master_secret: bytes = field(repr=False)
    diag_key: bytes = field(repr=False)
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in _KEYS:
            value = getattr(self, name)
            if not isinstance(value, bytes) or not value:
                raise SecretFileError(f"{name} must be non-empty bytes")

    @property
    def is_lab(self) -> bool:
        """Whether these are the public lab constants (anyone can compute their codes)."""
        return self.master_secret == DEFAULT_MASTER_SECRET or self.diag_key == DEFAULT_DIAG_KEY


LAB_SECRETS: Final = Secrets(DEFAULT_MASTER_SECRET, DEFAULT_DIAG_KEY)
"""The public lab constants of diagnostic-contract.md §5 (the contract's known answers)."""


def _check_private(path: Path) -> None:
    if os.name != "posix":
        return  # POSIX modes only; elsewhere the file's ACL is the user's business
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & _GROUP_OR_OTHERS:
        raise SecretFileError(
            f"secret file {path}: readable or writable by group or others (mode {mode:04o}): "
            f"run chmod 600 {path}"
        )


def _value(path: Path, table: dict[str, object], name: str) -> bytes:
    if name not in table:
        raise SecretFileError(f"secret file {path}: missing key {name!r}")
    text = table[name]
    if not isinstance(text, str):
        raise SecretFileError(
            f"secret file {path}: {name} must be a string of hex digits, got {type(text).__name__}"
        )
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise SecretFileError(
            f"secret file {path}: {name} is not hex (only 0-9, a-f, A-F and spaces)"
        ) from None
    if not MIN_SECRET_BYTES <= len(value) <= MAX_SECRET_BYTES:
        raise SecretFileError(
            f"secret file {path}: {name} must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes "
            f"({2 * MIN_SECRET_BYTES} to {2 * MAX_SECRET_BYTES} hex digits), got {len(value)}"
        )
    return value


def load(path: Path | str) -> Secrets:
    """Read the secret file at ``path`` (docs/secrets.md); :class:`SecretFileError` if unusable."""
    path = Path(path)
    try:
        _check_private(path)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SecretFileError(f"secret file {path}: no such file") from None
    except OSError as exc:
        raise SecretFileError(f"secret file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        table: dict[str, object] = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SecretFileError(f"secret file {path}: not TOML: {exc}") from None
    tag = table.get("format")
    if tag != FORMAT:
        got = "missing" if tag is None else repr(tag)
        raise SecretFileError(f"secret file {path}: format must be {FORMAT!r}, got {got}")
    unknown = sorted(set(table) - {"format", *_KEYS})
    if unknown:
        raise SecretFileError(f"secret file {path}: unknown key(s) {', '.join(unknown)}")
    master_secret, diag_key = (_value(path, table, name) for name in _KEYS)
    for name, value, public in (
        ("master_secret", master_secret, DEFAULT_MASTER_SECRET),
        ("diag_key", diag_key, DEFAULT_DIAG_KEY),
    ):
        if value == public:  # a file would hide that anyone can compute the car's codes
            raise SecretFileError(
                f"secret file {path}: {name} is the public lab value: make a new file with "
                "'ecusim secret new', or give no file to run on the lab secret (with its notice)"
            )
    return Secrets(master_secret, diag_key, source=path)


def render(secrets: Secrets) -> str:
    """The TOML text of ``secrets`` in the file's format."""
    return (
        "# ecusim secret file (docs/secrets.md): keep it private (mode 0600)\n"
        f'format = "{FORMAT}"\n'
        f'master_secret = "{secrets.master_secret.hex()}"\n'
        f'diag_key = "{secrets.diag_key.hex()}"\n'
    )


def write_new(path: Path | str, *, force: bool = False) -> Secrets:
    """Write fresh random secrets to ``path`` with mode 0600 and return them.

    An existing file is refused unless ``force`` (then replaced atomically)."""
    path = Path(path)
    fresh = Secrets(
        random_bytes.token_bytes(NEW_SECRET_BYTES),
        random_bytes.token_bytes(NEW_SECRET_BYTES),
        source=path,
    )
    target = path.with_name(f".{path.name}.new") if force else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        if force:
            target.unlink(missing_ok=True)
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise SecretFileError(
            f"secret file {path}: already exists (use --force to replace it)"
        ) from None
    except OSError as exc:
        raise SecretFileError(f"secret file {path}: cannot create: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            if os.name == "posix":
                os.fchmod(out.fileno(), 0o600)  # whatever the umask
            out.write(render(fresh).encode("ascii"))
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(target, path)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise SecretFileError(f"secret file {path}: cannot write: {exc.strerror or exc}") from None
    return fresh
