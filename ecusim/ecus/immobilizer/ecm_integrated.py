"""The ECM-integrated immobilizer (early cars): the engine ECU holds the key codes itself.

It is a transponder key ECU in the ECM: it answers at the ECM's address, registers at most
``ecm_codes`` codes in all, the last one becoming the sub key whatever the blank [S], and has
no scan-tool reset (the bulletin: refer to the SPOC bulletin;
diagnostic-contract.md §4: 0x0201 → 0x31).
"""

from __future__ import annotations

from ecusim.car.keys import Key, KeyKind
from ecusim.ecus.immobilizer.config import EcmIntegratedConfig
from ecusim.ecus.immobilizer.diagnostics import ecm_integrated_surface
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from ecusim.ecus.key_ecu.diagnostics import KeyEcuSurface
from ecusim.ecus.key_ecu.indicator import FlashCode
from ecusim.ecus.key_ecu.key_store import KeySlots, RegisteredKey


class EcmIntegratedImmobilizer(TransponderKeyEcu):
    """The key codes, their registration and the start decision inside the engine ECU."""

    name = "engine"
    config: EcmIntegratedConfig

    def _surface(self) -> KeyEcuSurface:
        return ecm_integrated_surface(self)

    def _code_kind(self, learned: RegisteredKey) -> RegisteredKey:
        """The last of the codes becomes the sub key, whatever the blank [S]."""
        last = len(self.keys.all()) + 1 >= self.config.ecm_codes
        kind = KeyKind.SUB if last else KeyKind.MASTER
        return RegisteredKey(learned.transponder_id, kind, learned.secret)

    def _automatic_complete(self, limits: KeySlots) -> bool:
        return len(self.keys.all()) >= self.config.ecm_codes

    def _memory_failure(self, key: Key, limits: KeySlots, *, automatic: bool) -> FlashCode | None:
        """At most ``ecm_codes`` codes in all, whatever their kind."""
        return FlashCode.OVER_LIMIT if len(self.keys.all()) >= self.config.ecm_codes else None
