"""The engine ECU (ECM): identification, level 0x01, TesterPresent, ECUReset
(diagnostic-contract.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ecusim.catalog.vin import VinError, validate_written_vin
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.identification import (
    LEVEL_EXTENDED_DIAGNOSTICS,
    active_session_did,
    identification_dids,
    serial_number_for,
    vin_did,
)
from ecusim.ecus.start_control import StartControl
from protocol.isotp_binding import IsoTpAddressing, IsoTpParameters
from protocol.nvm import MemoryNvm, NvmStore
from protocol.nvm_section import SharedNvm
from protocol.passcode import DEFAULT_DIAG_KEY
from protocol.security_algorithms import LabDiagnosticAlgorithm
from protocol.seed_source import SeedSource
from protocol.uds.security import SecurityLevel, SecurityPolicy
from protocol.uds.server import ServerConfig, UdsServer

DEFAULT_VIN = "JTHBL5EF0C5000001"
"""The lab VIN of diagnostic-contract.md §5 (valid check digit, model year 2012)."""

ENGINE_ADDRESSING = IsoTpAddressing(request_id=0x7E0, response_id=0x7E8, functional_id=0x7DF)
"""diagnostic-contract.md §1: 0x7E0 → 0x7E8, functional 0x7DF, normal 11-bit addressing."""


@dataclass(frozen=True)
class EngineConfig:
    """Identity and wiring of an engine ECU; every value is configurable
    (diagnostic-contract.md §1)."""

    vin: str = DEFAULT_VIN
    part_number: str = "89661-LAB01"
    serial_number: str | None = None
    addressing: IsoTpAddressing = ENGINE_ADDRESSING
    isotp: IsoTpParameters = field(default_factory=IsoTpParameters)
    diag_key: bytes = DEFAULT_DIAG_KEY
    server: ServerConfig = field(default_factory=ServerConfig)
    security_policy: SecurityPolicy = field(default_factory=SecurityPolicy)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vin", validate_written_vin(self.vin))


class EngineEcu(DiagnosableEcu):
    """An ECM that identifies itself, unlocks level 0x01 and keeps VIN and counters in NVM."""

    name = "engine"
    system_name = "ENGINE"

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        nvm: NvmStore | None = None,
        seed_source: SeedSource | None = None,
        communication_id: int | None = None,
    ) -> None:
        """``communication_id``: the ECU-ECM ID shared with the immobilizer at manufacture
        (stored in NVM on first start); ``None`` for an engine without an immobilizer link."""
        self.config = config if config is not None else EngineConfig()
        self.addressing = self.config.addressing
        self.isotp_parameters = self.config.isotp
        self._nvm = SharedNvm(nvm if nvm is not None else MemoryNvm())
        self._identity = self._nvm.section("identity")
        self._vin = self._load_vin()
        serial = self.config.serial_number or serial_number_for("ENG", self._vin)
        self.server = UdsServer(
            config=self.config.server,
            data_identifiers=[
                vin_did(lambda: self._vin, self._store_vin),
                *identification_dids(
                    serial_number=serial,
                    part_number=self.config.part_number,
                    system_name=self.system_name,
                ),
                active_session_did(lambda: self.server),
            ],
            security_levels=[
                SecurityLevel(
                    LEVEL_EXTENDED_DIAGNOSTICS,
                    LabDiagnosticAlgorithm(diag_key=self.config.diag_key),
                    name="extended diagnostics",
                )
            ],
            security_policy=self.config.security_policy,
            seed_source=seed_source,
            security_nvm=self._nvm.section("security"),
        )
        # After the server has validated the security record: nothing is written before.
        self.start_control = StartControl(self._nvm.section("ecm_link"), communication_id)

    def _load_vin(self) -> str:
        stored = self._identity.load()
        if stored is None:
            return self.config.vin
        try:
            return validate_written_vin(str(stored.get("vin")))
        except VinError as exc:
            raise self._identity.corrupt(f"stored VIN: {exc}") from exc

    @property
    def vin(self) -> str:
        return self._vin

    def _store_vin(self, vin: str) -> None:
        self._identity.save({"vin": vin})
        self._vin = vin
