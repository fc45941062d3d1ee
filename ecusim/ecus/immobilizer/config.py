"""Configuration of a transponder key ECU; every value is configurable (diagnostics.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ecusim.catalog.vin import validate_vin
from ecusim.ecus.key_ecu.key_store import KeySlots
from protocol.isotp_binding import IsoTpAddressing, IsoTpParameters
from protocol.passcode import DEFAULT_DIAG_KEY, DEFAULT_MASTER_SECRET
from protocol.uds.security import SecurityPolicy
from protocol.uds.server import ServerConfig

IMMOBILIZER_ADDRESSING = IsoTpAddressing(request_id=0x750, response_id=0x758, extended_address=0x57)
"""diagnostics.md §1: 0x750 → 0x758, extended addressing, sub-address 0x57 (lab)."""

AUTOMATIC_REGISTRATION_LIMITS = KeySlots(masters=3, subs=1)
"""Automatic (new) registration: 3 masters + 1 sub (LS430/SC430, domain.md [S])."""
ADDITIONAL_REGISTRATION_LIMITS = KeySlots(masters=5, subs=3)
"""Additional registration: 5 masters + 3 subs (domain.md [S])."""


@dataclass(frozen=True)
class ImmobilizerConfig:
    """A transponder key ECU.

    Limits: automatic (new) registration 3 masters + 1 sub, additional registration 5 masters +
    3 subs (domain.md [S]). ``ready_code``: the 2-digit code flashed right after a reset until
    the first key is inserted (bulletin: "such as 21 or 22"; 21 here [LAB]). Times in vehicle-clock
    seconds: ``erase_duration_s`` how long the reset's erase takes (0x78 meanwhile) [LAB];
    ``relock_delay_s`` the immobilizer sets again 20 s after ignition off [S];
    ``additional_window_s`` 30 s for the new key (diagnostics.md §4); the brake pedal pressed
    ``brake_presses`` times within ``brake_window_s`` ends automatic registration [S];
    ``key_response_limit_s``: a transponder slower than 0.5 s is not identified (B2798) [S].
    """

    vin: str
    automatic_limits: KeySlots = AUTOMATIC_REGISTRATION_LIMITS
    additional_limits: KeySlots = ADDITIONAL_REGISTRATION_LIMITS
    ready_code: int = 21
    addressing: IsoTpAddressing = IMMOBILIZER_ADDRESSING
    isotp: IsoTpParameters = field(default_factory=IsoTpParameters)
    part_number: str = "89780-LAB01"
    serial_number: str | None = None
    system_name: str = "IMMOBILISER"
    diag_key: bytes = DEFAULT_DIAG_KEY
    master_secret: bytes = DEFAULT_MASTER_SECRET
    erase_duration_s: float = 2.0
    relock_delay_s: float = 20.0
    additional_window_s: float = 30.0
    brake_presses: int = 5
    brake_window_s: float = 15.0
    key_response_limit_s: float = 0.5
    server: ServerConfig = field(default_factory=ServerConfig)
    security_policy: SecurityPolicy = field(default_factory=SecurityPolicy)
    ecm_integrated: bool = False
    """The key codes live in the engine ECU itself (early cars): the ECU answers at the ECM's
    address, registers at most ``ecm_codes`` codes (the last one becomes the sub key) and
    has no scan-tool reset (diagnostics.md §4: 0x0201 → 0x31)."""
    ecm_codes: int = 3

    def key_capacity(self) -> tuple[KeySlots, int | None]:
        """The most the key memory holds: per kind, and in all (``None``: no total limit)."""
        if self.ecm_integrated:
            return KeySlots(masters=self.ecm_codes, subs=self.ecm_codes), self.ecm_codes
        automatic, additional = self.automatic_limits, self.additional_limits
        per_kind = KeySlots(
            masters=max(automatic.masters, additional.masters),
            subs=max(automatic.subs, additional.subs),
        )
        return per_kind, None

    def __post_init__(self) -> None:
        object.__setattr__(self, "vin", validate_vin(self.vin))
