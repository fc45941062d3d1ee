"""What every key-code ECU is configured with; every value is configurable
(diagnostic-contract.md §1)."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from ecusim.catalog.vin import validate_written_vin
from ecusim.ecus.key_ecu.key_store import KeySlots
from protocol.isotp_binding import IsoTpAddressing, IsoTpParameters
from protocol.passcode import DEFAULT_DIAG_KEY, DEFAULT_MASTER_SECRET
from protocol.uds.security import SecurityPolicy
from protocol.uds.server import ServerConfig


@dataclass(frozen=True)
class KeyEcuConfig(abc.ABC):
    """The fields every key-code ECU has: its VIN, addresses, identification, secrets, server
    settings, and two times in vehicle-clock seconds: ``erase_duration_s`` how long the reset's
    erase takes (0x78 meanwhile) [LAB]; ``key_response_limit_s`` a key slower than 0.5 s is not
    identified (B2798) [S]. Each ECU's configuration gives the defaults of its addresses, part
    number and system name."""

    vin: str
    addressing: IsoTpAddressing
    part_number: str
    system_name: str
    isotp: IsoTpParameters = field(default_factory=IsoTpParameters)
    serial_number: str | None = None
    diag_key: bytes = DEFAULT_DIAG_KEY
    master_secret: bytes = DEFAULT_MASTER_SECRET
    erase_duration_s: float = 2.0
    key_response_limit_s: float = 0.5
    server: ServerConfig = field(default_factory=ServerConfig)
    security_policy: SecurityPolicy = field(default_factory=SecurityPolicy)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vin", validate_written_vin(self.vin))

    @abc.abstractmethod
    def key_capacity(self) -> tuple[KeySlots, int | None]:
        """The most the key memory holds: per kind, and in all (``None``: no total limit)."""
