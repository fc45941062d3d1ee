"""A car's state folder: where it is by default, whose it is, and who runs on it now.

- :func:`default_state_dir`: ``ecusim run`` keeps a car's NVM in
  ``<user data dir>/ecusim/cars/<VIN>`` (``platformdirs.user_data_path("ecusim")``, e.g.
  ``~/.local/share/ecusim/cars/<VIN>`` on Linux, which honours ``XDG_DATA_HOME``), or in
  ``$ECUSIM_DATA_DIR/cars/<VIN>`` when that variable is set.
- :func:`check_owner`: every NVM file of a car carries the car's identity (its ``owner``, see
  :mod:`protocol.nvm`); a folder holding a file of another car is refused, read-only, before
  anything is written.
- :class:`FolderLock`: an advisory lock (``fcntl.flock`` on the folder's ``lock`` file) held while
  a car is built and while it runs; the OS drops it when the process dies, even on ``kill -9``.
  POSIX only: elsewhere the folder is not locked (a warning says so).
- :func:`remove_interrupted_saves`: once the lock is taken, the temp files a killed save left
  (``.<kind>.nvm.json.<8 characters>.tmp``) are removed; nothing else is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from ecusim.errors import VehicleError
from protocol.nvm import FileNvm, JsonValue, remove_stale_temp_files

__all__ = [
    "DATA_DIR_VARIABLE",
    "LOCK_FILE",
    "NVM_SUFFIX",
    "FolderLock",
    "StateFolderError",
    "StateFolderInUseError",
    "check_owner",
    "default_state_dir",
    "describe_owner",
    "remove_interrupted_saves",
    "stamp_owner",
]

logger = logging.getLogger(__name__)

DATA_DIR_VARIABLE = "ECUSIM_DATA_DIR"
"""Overrides the user data directory (the cars' folders are in ``<it>/cars/<VIN>``)."""

LOCK_FILE = "lock"
"""The file of a state folder that a running car holds locked (it holds the car's pid)."""

NVM_SUFFIX = ".nvm.json"
"""Every NVM file of a state folder ends so: ``<kind>.nvm.json``."""


class StateFolderError(VehicleError):
    """A state folder cannot be used for this car (another car's, or unusable)."""


class StateFolderInUseError(StateFolderError):
    """Another running car holds the state folder's lock."""


def data_dir() -> Path:
    """``$ECUSIM_DATA_DIR`` if set, else the user data directory of ecusim (platformdirs)."""
    override = os.environ.get(DATA_DIR_VARIABLE)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path("ecusim")


def default_state_dir(vin: str) -> Path:
    """The state folder ``ecusim run`` uses for the car of ``vin`` when given no state flag."""
    return data_dir() / "cars" / vin


def describe_owner(owner: Mapping[str, object]) -> str:
    """``LS430 2004 VIN JTH...`` for an identity record (``{"vin", "model", "year"}``)."""
    return f"{owner.get('model')} {owner.get('year')} VIN {owner.get('vin')}"


def check_owner(folder: Path, identity: Mapping[str, JsonValue]) -> None:
    """Refuse ``folder`` if any NVM file in it belongs to another car (its ``owner``, or for the
    car's own record ``vehicle.nvm.json`` its data); reads only. Files without an owner (from an
    ecusim before owners) are accepted."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob(f"*{NVM_SUFFIX}")):
        kind = path.name[: -len(NVM_SUFFIX)]
        store = FileNvm(path, kind=kind)
        owner = store.read_owner()
        if owner is None and kind == "vehicle":
            owner = store.load()  # the car's record is its identity
        if owner is not None and owner != dict(identity):
            raise StateFolderError(
                f"state folder {folder}: {path.name} belongs to {describe_owner(owner)}, not "
                f"{describe_owner(identity)}: use another state folder (or delete this one to "
                "build the car anew)"
            )


def stamp_owner(folder: Path, identity: Mapping[str, JsonValue]) -> None:
    """Write ``identity`` as the owner into every NVM file of ``folder`` that has none (a folder
    of an ecusim before owners, whose car record matches): call with the folder locked."""
    for path in sorted(folder.glob(f"*{NVM_SUFFIX}")):
        store = FileNvm(path, kind=path.name[: -len(NVM_SUFFIX)], owner=identity)
        if store.read_owner() is None:
            data = store.load()
            if data is not None:
                store.save(data)


def remove_interrupted_saves(folder: Path) -> list[Path]:
    """Remove the temp files of NVM saves killed before their rename (the NVM file itself holds
    the old content, intact) and return them: only ``.<kind>.nvm.json.<8 characters>.tmp``
    regular files; a symlink or directory of that name is left alone, with a warning. Call with
    the folder locked: then no save runs on it."""
    return remove_stale_temp_files(folder, target_suffix=NVM_SUFFIX)


class FolderLock:
    """The advisory lock of one state folder; :meth:`acquire` is idempotent, :meth:`release`
    too. The ``lock`` file is created once and then only ever holds the pid of the car that
    runs on the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or :class:`StateFolderInUseError` naming the holder's pid.

        The ``flock`` is on the folder itself (a directory descriptor), so deleting or replacing
        the ``lock`` file does not free a running car's folder; the file only tells the pid."""
        if self._fd is not None:
            return
        if sys.platform == "win32":  # pragma: no cover - POSIX only (documented)
            logger.warning("state folder %s is not locked: locking needs POSIX", self.folder)
            return
        import fcntl  # noqa: PLC0415 - POSIX only

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise StateFolderError(
                f"NVM folder {self.folder} is not writable: {exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateFolderInUseError(
                f"state folder {self.folder} is in use by another running car ({self._holder()})"
            ) from None
        self._write_pid()
        self._fd = fd

    def _holder(self) -> str:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return "pid unknown"
        return f"pid {text}" if text.isdigit() else "pid unknown"

    def _write_pid(self) -> None:
        """The pid into ``lock``; O_NOFOLLOW: a symlink planted there is refused, never
        truncated."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            logger.warning("could not write the pid into %s", self.path)
            return
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        except OSError:
            logger.debug("could not write the pid into %s", self.path)
        finally:
            os.close(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing drops the flock
