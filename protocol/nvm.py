"""Non-volatile memory (NVM) of a simulated ECU: survives ECUReset, power cycles and process kills.

The file form is small, versioned, checksummed and written atomically (temp file, fsync, rename),
so a kill mid-write leaves the old or the new content, never a mix (design guide). A corrupt or
foreign file is refused, never replaced or deleted: the caller decides.

File format (version 1), a JSON object::

    {"format": "ecusim-nvm", "kind": <kind>, "version": 1,
     "sha256": <hex SHA-256 of the canonical JSON of "data">, "data": {...},
     "owner": {...}}

``owner`` (optional) names the device the memory belongs to (for a car's ECUs: its VIN, model
and year). A :class:`FileNvm` opened with an ``owner`` refuses a file that carries another one
(:class:`~protocol.errors.NvmOwnerError`), accepts a file without one (written before owners
existed) and writes its owner with the next save; the checksum covers ``data`` only, so files
with and without an owner read the same everywhere.

Canonical JSON: ``sort_keys=True``, separators ``(",", ":")``, ASCII only, no NaN/Infinity.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, TypeAlias, runtime_checkable

from cryptography.hazmat.primitives import hashes

from protocol.errors import ConfigurationError, NvmCorruptError, NvmError, NvmOwnerError

__all__ = [
    "NVM_FORMAT",
    "NVM_VERSION",
    "FileNvm",
    "JsonValue",
    "MemoryNvm",
    "NvmStore",
    "canonical_json",
    "remove_stale_temp_files",
    "temp_file_target",
]

_log = logging.getLogger(__name__)

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""A value that JSON represents exactly (object keys are strings)."""

NVM_FORMAT = "ecusim-nvm"
"""Value of the ``format`` field of every NVM file."""

NVM_VERSION = 1
"""The file-format version this code writes and reads."""

_FIELDS = ("format", "kind", "version", "sha256", "data")

_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp")
"""The name :meth:`FileNvm.save` gives its temp file: ``.<file name>.<8 mkstemp characters>.tmp``
(``tempfile.mkstemp(prefix=".<file name>.", suffix=".tmp")``)."""


@runtime_checkable
class NvmStore(Protocol):
    """Where an ECU keeps what must survive a power cycle (attempt counters, keys, VIN)."""

    def load(self) -> dict[str, JsonValue] | None:
        """Return the stored data, or ``None`` if the memory was never written (blank)."""
        ...

    def save(self, data: Mapping[str, JsonValue]) -> None:
        """Replace the stored data with ``data``, all or nothing."""
        ...

    def corrupt(self, problem: str) -> NvmCorruptError:
        """The error for content that loaded but is invalid for its owner (e.g. a counter that
        is not a number): names where the data lives and how to reinitialise it."""
        ...


def _check_json(value: object, where: str) -> None:
    """Raise TypeError/ValueError unless ``value`` is a :data:`JsonValue` (no lossy coercions)."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"NVM data {where} is {value!r}; JSON has no NaN or infinity")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"NVM data {where} has a non-str key {key!r}")
            _check_json(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"NVM data {where} is a {type(value).__name__}, not a JSON value")


def canonical_json(data: Mapping[str, JsonValue]) -> bytes:
    """Return the canonical JSON encoding that the NVM checksum covers."""
    _check_json(data, "root")
    text = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return text.encode("ascii")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _sha256_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()


class MemoryNvm:
    """NVM in process memory: keeps a deep copy of what was saved.

    Hand the same instance to a new server to simulate a power cycle that keeps the data.
    """

    def __init__(self, data: Mapping[str, JsonValue] | None = None) -> None:
        self._data: dict[str, JsonValue] | None = None
        if data is not None:
            self.save(data)

    def load(self) -> dict[str, JsonValue] | None:
        return copy.deepcopy(self._data)

    def save(self, data: Mapping[str, JsonValue]) -> None:
        """Keep a deep copy; TypeError/ValueError for data JSON cannot represent exactly."""
        _check_json(data, "root")
        self._data = copy.deepcopy(dict(data))

    def corrupt(self, problem: str) -> NvmCorruptError:
        return NvmCorruptError(f"in-memory NVM {problem}; construct a new MemoryNvm to reset it")


class FileNvm:
    """NVM in one JSON file of a given ``kind`` (one ECU type, e.g. ``"immobilizer"``).

    ``save`` writes a temp file in the same directory, flushes and fsyncs it, renames it over the
    file (``os.replace``) and fsyncs the directory (best effort). ``load`` returns ``None`` for a
    missing file and raises :class:`NvmCorruptError` for anything else it cannot trust. ``save``
    refuses to overwrite a file it has not read as valid first.
    """

    def __init__(
        self, path: Path | str, *, kind: str, owner: Mapping[str, JsonValue] | None = None
    ) -> None:
        if not isinstance(kind, str) or not kind.strip():
            raise ConfigurationError(f"NVM kind must be a non-empty str, got {kind!r}")
        if owner is not None:
            _check_json(owner, "owner")
        self.path = Path(path)
        self.kind = kind
        self.owner: dict[str, JsonValue] | None = dict(owner) if owner is not None else None
        self._stored_owner: dict[str, JsonValue] | None = None
        self._checked = False

    def __repr__(self) -> str:
        return f"FileNvm({str(self.path)!r}, kind={self.kind!r})"

    def corrupt(self, problem: str) -> NvmCorruptError:
        return self._corrupt(problem)

    def check_writable(self) -> None:
        """Fail early (NvmError naming the folder) if the file's folder cannot be created or
        written, rather than at the first attempt counter that must be saved."""
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, probe = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            os.close(handle)
            os.unlink(probe)
        except OSError as exc:
            raise NvmError(
                f"NVM folder {directory} is not writable: {exc.strerror or exc}"
            ) from exc

    def _corrupt(self, problem: str, *, alternative: str = "") -> NvmCorruptError:
        return NvmCorruptError(
            f"NVM file {self.path} {problem}; {alternative}delete {self.path} to reinitialise "
            "this ECU's memory (all stored keys and counters are lost)"
        )

    def load(self) -> dict[str, JsonValue] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._checked = True
            return None
        except OSError as exc:
            raise NvmError(f"cannot read NVM file {self.path}: {exc}") from exc
        data, self._stored_owner = self._parse(raw)
        self._checked = True
        return data

    def read_owner(self) -> dict[str, JsonValue] | None:
        """The ``owner`` the file carries (``None``: no file, or a file without one), without
        judging it; NvmCorruptError for a file that is not a valid NVM file of this kind."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise NvmError(f"cannot read NVM file {self.path}: {exc}") from exc
        return self._parse(raw, judge_owner=False)[1]

    def _parse(
        self, raw: bytes, *, judge_owner: bool = True
    ) -> tuple[dict[str, JsonValue], dict[str, JsonValue] | None]:
        if not raw.strip():
            raise self._corrupt("is empty (truncated write?)")
        try:
            document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError as exc:
            raise self._corrupt(f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except json.JSONDecodeError as exc:
            raise self._corrupt(
                f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from exc
        except (ValueError, RecursionError) as exc:
            raise self._corrupt(f"is not valid JSON ({exc})") from exc
        if not isinstance(document, dict):
            raise self._corrupt(f"holds a JSON {type(document).__name__}, not an object")
        if document.get("format") != NVM_FORMAT:
            raise self._corrupt(
                f"is not an ecusim NVM file (format {document.get('format')!r}, "
                f"expected {NVM_FORMAT!r})"
            )
        missing = [name for name in _FIELDS if name not in document]
        if missing:
            raise self._corrupt(f"lacks the field(s) {', '.join(missing)}")
        version = document["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version != NVM_VERSION:
            raise self._corrupt(
                f"has unknown format version {version!r} (this ecusim reads version {NVM_VERSION})"
            )
        kind = document["kind"]
        if kind != self.kind:
            raise self._corrupt(
                f"belongs to another kind of ECU ({kind!r}, expected {self.kind!r})",
                alternative="configure another path for this ECU, or ",
            )
        data = document["data"]
        if not isinstance(data, dict):
            raise self._corrupt(f"has a 'data' field of type {type(data).__name__}, not object")
        stored = document["sha256"]
        try:
            computed = _sha256_hex(canonical_json(data))
        except ValueError as exc:  # e.g. 1e400, which json reads as infinity
            raise self._corrupt(f"holds data JSON cannot represent exactly ({exc})") from exc
        if not isinstance(stored, str) or stored.lower() != computed:
            raise self._corrupt(
                f"fails its checksum (stored sha256 {stored!r}, computed {computed})"
            )
        owner = document.get("owner")
        if owner is not None and not isinstance(owner, dict):
            raise self._corrupt(f"has an 'owner' field of type {type(owner).__name__}, not object")
        if judge_owner and owner is not None and self.owner is not None and owner != self.owner:
            raise NvmOwnerError(
                f"NVM file {self.path} belongs to {_describe(owner)}, not {_describe(self.owner)}; "
                "use another folder for this memory",
                owner=dict(owner),
                expected=dict(self.owner),
            )
        return data, owner

    def save(self, data: Mapping[str, JsonValue]) -> None:
        """Write ``data`` atomically; NvmError on OS errors, TypeError/ValueError on non-JSON data.

        The file is created with mode 0600 (``tempfile.mkstemp``).
        """
        if not self._checked:
            # Never overwrite a corrupt or foreign file we have not read: raises if it is one.
            self.load()
        payload = canonical_json(data)
        document = {
            "format": NVM_FORMAT,
            "kind": self.kind,
            "version": NVM_VERSION,
            "sha256": _sha256_hex(payload),
            "data": json.loads(payload),
        }
        owner = self.owner if self.owner is not None else self._stored_owner
        if owner is not None:
            document["owner"] = owner  # a file keeps its owner, whoever saves it
        text = json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False) + "\n"
        directory = self.path.parent
        temp_name: str | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(
                prefix=f"{_TEMP_PREFIX}{self.path.name}.", suffix=_TEMP_SUFFIX, dir=directory
            )
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.path)
            temp_name = None
        except OSError as exc:
            raise NvmError(f"cannot write NVM file {self.path}: {exc}") from exc
        finally:
            if temp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp_name)
        _fsync_directory(directory)
        self._checked = True
        _log.debug("saved NVM file %s", self.path)


def temp_file_target(name: str) -> str | None:
    """The NVM file name whose :meth:`FileNvm.save` writes a temp file called ``name``
    (``".vehicle.nvm.json.k3j_9x2a.tmp"`` → ``"vehicle.nvm.json"``), else ``None``."""
    match = _TEMP_NAME.fullmatch(name)
    return match.group("target") if match else None


def remove_stale_temp_files(directory: Path, *, target_suffix: str) -> list[Path]:
    """Remove the temp files that interrupted saves left in ``directory`` and return them.

    A save killed before its rename leaves ``.<file>.<8 characters>.tmp`` (the old NVM file is
    intact, the temp file is garbage). Only names of that exact pattern whose ``<file>`` ends with
    ``target_suffix`` are touched, and only regular files: a symlink or a directory of that name
    was not written by a save, so it is left alone with a warning. Call it only while no save can
    run on ``directory`` (its owner holds the folder's lock), else a save in flight loses its temp
    file (it then fails with :class:`~protocol.errors.NvmError`, the old file still intact).
    """
    removed: list[Path] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return removed  # no folder yet (or unreadable: the next load says so)
    for path in entries:
        target = temp_file_target(path.name)
        if target is None or not target.endswith(target_suffix):
            continue
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            _log.warning("cannot inspect %s: %s", path, exc)
            continue
        if not stat.S_ISREG(mode):
            _log.warning("%s is not a regular file: not a save's temp file, left alone", path)
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            _log.warning("cannot remove the stale temp file %s: %s", path, exc)
            continue
        _log.info("removed %s, left by an interrupted save of %s", path, target)
        removed.append(path)
    return removed


def _describe(owner: Mapping[str, object]) -> str:
    return ", ".join(f"{name} {value}" for name, value in sorted(owner.items())) or "no one"


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
