"""Keyless entry receivers: the 1992 SC400's ROM type and the later programmable type.

ROM type [S, the SC400 forum write-up]: the remotes send fixed codes; the receiver's plug-in,
non-programmable ROM lists the valid ones and is sold with its 1, 2 or 3 remotes
(89705-50943/44/45). Any attempt to learn a code is refused; the only way to pair new remotes is
to swap the ROM, which makes the old ones useless.

Programmable type (MY1994+) [S]: 4 code slots, the oldest dropped first when a fifth is learnt.

A ROM is an object or a small image file: magic ``ECUSIMROM``, format version, part number,
codes, and a SHA-256 over the rest, so a damaged image is refused [LAB format].
"""

from __future__ import annotations

import enum
import json
import random
import re
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes

from ecusim.errors import EcusimError

ROM_MAGIC = "ECUSIMROM"
ROM_FORMAT_VERSION = 1
ROM_KIT_PART_NUMBERS = {1: "89705-50943", 2: "89705-50944", 3: "89705-50945"}
"""Lexus part numbers of the ROM-and-remotes kits by number of remotes [S]."""
PROGRAMMABLE_SLOTS = 4


class RemoteButton(enum.IntEnum):
    """Remote buttons (values as the DBC's ``LAB_REMOTE_CMD.Button``)."""

    LOCK = 0
    UNLOCK = 1
    PANIC = 2


class KeylessCommand(enum.IntEnum):
    """``KEYLESS_ENTRY.LastCommand`` values."""

    NONE = 0
    LOCK = 1
    UNLOCK = 2
    PANIC = 3


class KeylessError(EcusimError, ValueError):
    """A bad ROM image, remote code or request."""


class LearnRefusedError(KeylessError):
    """The receiver cannot learn codes (ROM type): swap the ROM instead."""


@dataclass(frozen=True)
class Remote:
    """A keyless-entry remote: it sends one fixed 32-bit code."""

    code: int

    def __post_init__(self) -> None:
        if not 0 < self.code <= 0xFFFFFFFF:
            raise KeylessError(f"a remote code is a non-zero 32-bit number, got {self.code:#x}")

    def __str__(self) -> str:
        return f"remote {self.code:08X}"


@dataclass(frozen=True)
class RomChip:
    """A receiver ROM: the remote codes it accepts, fixed for ever."""

    part_number: str
    codes: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.codes) <= 3:
            raise KeylessError(f"a ROM kit has 1, 2 or 3 remotes, got {len(self.codes)}")
        if len(set(self.codes)) != len(self.codes):
            raise KeylessError("a ROM lists each remote code once")
        expected = ROM_KIT_PART_NUMBERS.get(len(self.codes))
        if self.part_number in ROM_KIT_PART_NUMBERS.values() and self.part_number != expected:
            raise KeylessError(
                f"ROM {self.part_number} is a kit of another size: {len(self.codes)} codes "
                f"belong to {expected}"
            )
        for code in self.codes:
            Remote(code)

    @classmethod
    def kit(cls, remotes: int, rng: random.Random) -> tuple[RomChip, tuple[Remote, ...]]:
        """A new ROM and its remotes, as sold together (89705-5094x)."""
        if remotes not in ROM_KIT_PART_NUMBERS:
            raise KeylessError(f"ROM kits come with 1, 2 or 3 remotes, not {remotes}")
        made = tuple(Remote(rng.randrange(1, 1 << 32)) for _ in range(remotes))
        return cls(ROM_KIT_PART_NUMBERS[remotes], tuple(r.code for r in made)), made

    def accepts(self, code: int) -> bool:
        return code in self.codes

    # -- image files ---------------------------------------------------------------------------

    def to_image(self) -> bytes:
        body = {
            "magic": ROM_MAGIC,
            "version": ROM_FORMAT_VERSION,
            "part_number": self.part_number,
            "codes": [f"{code:08X}" for code in self.codes],
        }
        return json.dumps({**body, "sha256": _digest(body)}, indent=2).encode("ascii") + b"\n"

    @classmethod
    def from_image(cls, data: bytes, *, origin: str = "ROM image") -> RomChip:
        try:
            document = json.loads(data.decode("ascii"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise KeylessError(f"{origin} is not a ROM image: {exc}") from exc
        if not isinstance(document, dict) or document.get("magic") != ROM_MAGIC:
            raise KeylessError(f"{origin} is not an ecusim ROM image (no {ROM_MAGIC} magic)")
        version = document.get("version")
        if type(version) is not int or version != ROM_FORMAT_VERSION:  # not True, not 1.0
            raise KeylessError(f"{origin}: unknown ROM format version {version!r}")
        claimed = document.pop("sha256", None)
        if claimed != _digest(document):
            raise KeylessError(f"{origin} is damaged: its checksum does not match")
        codes = document.get("codes")
        if not isinstance(codes, list) or not all(
            isinstance(code, str) and re.fullmatch(r"[0-9A-F]{8}", code) for code in codes
        ):
            raise KeylessError(
                f"{origin}: invalid ROM content: 'codes' must be a list of 8-digit hex strings"
            )
        part_number = document.get("part_number")
        if not isinstance(part_number, str):
            raise KeylessError(f"{origin}: invalid ROM content: 'part_number' must be a string")
        try:
            return cls(part_number, tuple(int(code, 16) for code in codes))
        except KeylessError as exc:
            raise KeylessError(f"{origin}: invalid ROM content ({exc})") from exc

    @classmethod
    def load(cls, path: Path) -> RomChip:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeylessError(f"cannot read ROM image {path}: {exc.strerror or exc}") from exc
        return cls.from_image(data, origin=str(path))

    def save(self, path: Path) -> None:
        try:
            path.write_bytes(self.to_image())
        except OSError as exc:
            raise KeylessError(f"cannot write ROM image {path}: {exc.strerror or exc}") from exc


def _digest(body: dict[str, object]) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii"))
    return digest.finalize().hex()


@dataclass(frozen=True)
class RemoteResult:
    """What one button press did."""

    command: KeylessCommand
    accepted: bool


class KeylessReceiver:
    """A receiver: ``rom`` set for the ROM type, ``None`` for the programmable type."""

    def __init__(self, *, rom: RomChip | None = None, learnt: tuple[int, ...] = ()) -> None:
        if rom is not None and learnt:
            raise KeylessError("a ROM receiver learns no codes")
        if len(set(learnt)) != len(learnt):
            raise KeylessError("a learnt code is listed twice")
        for code in learnt:
            Remote(code)  # a non-zero 32-bit code
        self._lock = threading.Lock()
        self.rom = rom
        self._slots: deque[int] = deque(learnt, maxlen=PROGRAMMABLE_SLOTS)
        self.doors_locked = False
        self.last = RemoteResult(KeylessCommand.NONE, False)
        self.command_counter = 0

    @property
    def is_rom_type(self) -> bool:
        return self.rom is not None

    @property
    def learnt_codes(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(self._slots)

    def press(self, remote: Remote, button: RemoteButton) -> RemoteResult:
        """A remote's button: the receiver acts only on a code it knows."""
        with self._lock:
            known = (
                self.rom.accepts(remote.code)
                if self.rom is not None
                else (remote.code in self._slots)
            )
            command = {
                RemoteButton.LOCK: KeylessCommand.LOCK,
                RemoteButton.UNLOCK: KeylessCommand.UNLOCK,
                RemoteButton.PANIC: KeylessCommand.PANIC,
            }[button]
            if known and command is not KeylessCommand.PANIC:
                self.doors_locked = command is KeylessCommand.LOCK
            self.last = RemoteResult(command, known)
            self.command_counter = (self.command_counter + 1) & 0xFF
            return self.last

    def learn(self, remote: Remote) -> None:
        """Programmable type: learn a code (the oldest of 4 is dropped). ROM type: refused."""
        with self._lock:
            if self.rom is not None:
                raise LearnRefusedError(
                    f"this receiver's codes are in ROM {self.rom.part_number}: it cannot learn "
                    f"{remote}; swap the ROM (with its remotes) to pair new ones"
                )
            if remote.code not in self._slots:
                self._slots.append(remote.code)

    def swap_rom(self, rom: RomChip) -> None:
        """Replace the ROM: from now on only its remotes work (ROM type only)."""
        with self._lock:
            if self.rom is None:
                raise KeylessError("this receiver is programmable: it has no ROM to swap")
            self.rom = rom
