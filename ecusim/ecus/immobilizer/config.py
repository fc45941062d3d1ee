"""Configuration of a transponder key ECU and of an ECM-integrated immobilizer; every value is
configurable (diagnostic-contract.md §1)."""

from __future__ import annotations

from dataclasses import dataclass

from ecusim.ecus.engine import ENGINE_ADDRESSING
from ecusim.ecus.key_ecu.config import KeyEcuConfig
from ecusim.ecus.key_ecu.key_store import KeySlots
from protocol.isotp_binding import IsoTpAddressing

IMMOBILIZER_ADDRESSING = IsoTpAddressing(request_id=0x750, response_id=0x758, extended_address=0x57)
"""diagnostic-contract.md §1: 0x750 → 0x758, extended addressing, sub-address 0x57 (lab)."""

AUTOMATIC_REGISTRATION_LIMITS = KeySlots(masters=3, subs=1)
"""Automatic (new) registration: 3 masters + 1 sub (LS430/SC430, domain.md [S])."""
ADDITIONAL_REGISTRATION_LIMITS = KeySlots(masters=5, subs=3)
"""Additional registration: 5 masters + 3 subs (domain.md [S])."""

ECM_PART_NUMBER = "89661-LAB02"
"""The part number of an engine ECU that holds the key codes itself."""


@dataclass(frozen=True)
class ImmobilizerConfig(KeyEcuConfig):
    """A transponder key ECU (the shared fields: :class:`KeyEcuConfig`).

    Limits: automatic (new) registration 3 masters + 1 sub, additional registration 5 masters +
    3 subs (domain.md [S]). ``ready_code``: the 2-digit code flashed right after a reset until
    the first key is inserted (bulletin: "such as 21 or 22"; 21 here [LAB]). Times in vehicle-clock
    seconds: ``relock_delay_s`` the immobilizer sets again 20 s after ignition off [S];
    ``additional_window_s`` 30 s for the new key (diagnostic-contract.md §4); the brake pedal
    pressed ``brake_presses`` times within ``brake_window_s`` ends automatic registration [S].
    """

    addressing: IsoTpAddressing = IMMOBILIZER_ADDRESSING
    part_number: str = "89780-LAB01"
    system_name: str = "IMMOBILISER"
    automatic_limits: KeySlots = AUTOMATIC_REGISTRATION_LIMITS
    additional_limits: KeySlots = ADDITIONAL_REGISTRATION_LIMITS
    ready_code: int = 21
    relock_delay_s: float = 20.0
    additional_window_s: float = 30.0
    brake_presses: int = 5
    brake_window_s: float = 15.0

    def key_capacity(self) -> tuple[KeySlots, int | None]:
        automatic, additional = self.automatic_limits, self.additional_limits
        per_kind = KeySlots(
            masters=max(automatic.masters, additional.masters),
            subs=max(automatic.subs, additional.subs),
        )
        return per_kind, None


@dataclass(frozen=True)
class EcmIntegratedConfig(ImmobilizerConfig):
    """An ECM-integrated immobilizer (early cars): the key codes live in the engine ECU itself,
    which answers at the ECM's address, registers at most ``ecm_codes`` codes in all (the last
    one becomes the sub key) and has no scan-tool reset
    (diagnostic-contract.md §4: 0x0201 → 0x31)."""

    addressing: IsoTpAddressing = ENGINE_ADDRESSING
    part_number: str = ECM_PART_NUMBER
    system_name: str = "ENGINE"
    ecm_codes: int = 3

    def key_capacity(self) -> tuple[KeySlots, int | None]:
        return KeySlots(masters=self.ecm_codes, subs=self.ecm_codes), self.ecm_codes
