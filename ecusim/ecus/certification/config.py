"""Configuration of a certification ECU; every value is configurable (diagnostic-contract.md §1)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ecusim.ecus.key_ecu.config import KeyEcuConfig
from ecusim.ecus.key_ecu.key_store import KeySlots
from protocol.errors import ConfigurationError
from protocol.isotp_binding import IsoTpAddressing

CERTIFICATION_ADDRESSING = IsoTpAddressing(
    request_id=0x750, response_id=0x758, extended_address=0xB5
)
"""diagnostic-contract.md §1: 0x750 → 0x758, extended addressing, sub-address 0xB5 (lab)."""

SMART_KEY_LIMIT = 7
"""Smart key systems register up to 7 keys (domain.md [S])."""

WAITING_PERIOD_S = 960.0
"""16 minutes after a reset before smart key registration opens (domain.md [BULLETIN/LAB])."""

REGISTRATION_SPEED_LIMIT_KMH = 5.0
"""Smart key registration is refused at or above 5 km/h (domain.md [S])."""


class RegistrationRefusal(enum.IntEnum):
    """Why smart key registration was refused: the first byte of DID 0x010E [LAB]."""

    NONE = 0x00
    VEHICLE_MOVING = 0x01
    KEYS_STORED = 0x02
    IGNITION_NOT_ON = 0x03
    WAITING_PERIOD = 0x04
    LIMIT_REACHED = 0x05
    ALREADY_REGISTERED = 0x06
    KEY_NOT_VERIFIED = 0x07
    NOT_A_SMART_KEY = 0x08

    @property
    def text(self) -> str:
        """The ASCII text that follows the code in DID 0x010E."""
        return _REFUSAL_TEXTS[self]


_REFUSAL_TEXTS = {
    RegistrationRefusal.NONE: "none",
    RegistrationRefusal.VEHICLE_MOVING: "vehicle moving",
    RegistrationRefusal.KEYS_STORED: "new registration only with no keys stored",
    RegistrationRefusal.IGNITION_NOT_ON: "ignition not ON",
    RegistrationRefusal.WAITING_PERIOD: "waiting period running",
    RegistrationRefusal.LIMIT_REACHED: "smart key limit reached",
    RegistrationRefusal.ALREADY_REGISTERED: "key already registered",
    RegistrationRefusal.KEY_NOT_VERIFIED: "key did not answer correctly",
    RegistrationRefusal.NOT_A_SMART_KEY: "not a smart key",
}


@dataclass(frozen=True)
class CertificationConfig(KeyEcuConfig):
    """A certification ECU (the smart key system's diagnosable ECU; the shared fields:
    :class:`KeyEcuConfig`).

    ``smart_key_limit``: keys it registers at most (7, domain.md [S]; the chart's value).
    ``waiting_period_s``: after a reset (or whenever no key is stored) registration opens only
    once this much vehicle-clock time has passed with the ignition ON (16 min [BULLETIN/LAB]).
    ``registration_speed_limit_kmh``: registration refused at or above it [S].
    """

    addressing: IsoTpAddressing = CERTIFICATION_ADDRESSING
    part_number: str = "89990-LAB01"
    system_name: str = "SMART KEY"
    smart_key_limit: int = SMART_KEY_LIMIT
    waiting_period_s: float = WAITING_PERIOD_S
    registration_speed_limit_kmh: float = REGISTRATION_SPEED_LIMIT_KMH

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.smart_key_limit <= 15:
            raise ConfigurationError(
                f"smart_key_limit must be 1..15 (a 4-bit signal), got {self.smart_key_limit}"
            )
        if not 0 < self.waiting_period_s <= 0xFFFF:
            raise ConfigurationError(
                f"waiting_period_s must be > 0 and fit 2 bytes, got {self.waiting_period_s}"
            )
        if self.registration_speed_limit_kmh < 0:
            raise ConfigurationError("registration_speed_limit_kmh must be ≥ 0")
        if self.erase_duration_s < 0:
            raise ConfigurationError("erase_duration_s must be ≥ 0")

    def key_capacity(self) -> tuple[KeySlots, int | None]:
        return KeySlots(masters=0, smart=self.smart_key_limit), None
