"""A car's keyless entry: its receiver type from the support chart, its remotes, and what of it
must survive a restart (a swapped ROM, learnt codes) in the car's ``keyless`` NVM file."""

from __future__ import annotations

import random

from ecusim.car.keyless import PROGRAMMABLE_SLOTS, KeylessError, KeylessReceiver, Remote, RomChip
from ecusim.catalog import KeylessEntry, ModelYear
from protocol.nvm import JsonValue, NvmStore

FACTORY_REMOTES = 2
"""Remotes handed out with a car whose receiver is programmable [LAB]."""


class KeylessSetup:
    """The receiver and the remotes handed out with the car or its current ROM kit (remotes
    learnt later are the caller's; a learnt fifth code drops the oldest from the receiver)."""

    def __init__(self, model_year: ModelYear, vin: str, nvm: NvmStore) -> None:
        self._nvm = nvm
        rng = random.Random(f"ecusim-keyless:{vin}")  # factory remotes derived from the VIN
        rom_type = model_year.keyless_entry is KeylessEntry.ROM
        if rom_type:
            count = max(1, min(3, model_year.factory_keys.masters or 2))
            rom, remotes = RomChip.kit(count, rng)
        else:
            remotes = tuple(Remote(rng.randrange(1, 1 << 32)) for _ in range(FACTORY_REMOTES))
        stored = nvm.load()
        if stored is None:
            self.receiver = (
                KeylessReceiver(rom=rom)
                if rom_type
                else KeylessReceiver(learnt=tuple(r.code for r in remotes))
            )
            self.remotes: tuple[Remote, ...] = remotes
            self._save()
        else:
            self.receiver, self.remotes = self._restore(stored, rom_type)

    def _restore(
        self, stored: dict[str, JsonValue], rom_type: bool
    ) -> tuple[KeylessReceiver, tuple[Remote, ...]]:
        try:
            remotes = tuple(Remote(int(str(code), 16)) for code in _list(stored, "remotes"))
            if rom_type:
                image = str(stored["rom"]).encode("ascii")
                return KeylessReceiver(rom=RomChip.from_image(image, origin="stored ROM")), remotes
            learnt = tuple(int(str(code), 16) for code in _list(stored, "learnt"))
            if len(learnt) > PROGRAMMABLE_SLOTS:  # the receiver itself never stores more
                raise KeylessError(f"{len(learnt)} learnt codes; it holds {PROGRAMMABLE_SLOTS}")
            return KeylessReceiver(learnt=learnt), remotes
        except (KeyError, ValueError, KeylessError) as exc:
            raise self._nvm.corrupt(f"keyless receiver record is invalid ({exc})") from exc

    def _save(self) -> None:
        record: dict[str, JsonValue] = {"remotes": [f"{r.code:08X}" for r in self.remotes]}
        if self.receiver.rom is not None:
            record["rom"] = self.receiver.rom.to_image().decode("ascii")
        else:
            record["learnt"] = [f"{code:08X}" for code in self.receiver.learnt_codes]
        self._nvm.save(record)

    def learn(self, remote: Remote) -> None:
        self.receiver.learn(remote)
        self._save()

    def swap_rom(self, rom: RomChip) -> None:
        """Install ``rom``; the remotes that now work are the ROM's own codes."""
        self.receiver.swap_rom(rom)
        self.remotes = tuple(Remote(code) for code in rom.codes)
        self._save()


def _list(stored: dict[str, JsonValue], name: str) -> list[JsonValue]:
    value = stored[name]
    if not isinstance(value, list):
        raise ValueError(f"{name} is not a list")
    return value
