"""The two security levels of a key-code ECU (diagnostic-contract.md §3): 0x01 with the lab
diagnostic key, 0x11 with the §5 Pass-Code for its own, write-once VIN."""

from __future__ import annotations

from collections.abc import Callable

from ecusim.ecus.identification import LEVEL_EXTENDED_DIAGNOSTICS, LEVEL_IMMOBILIZER_RESET
from ecusim.errors import VehicleError
from protocol.passcode import PASS_CODE_LENGTH, SEED_NUMBER_LENGTH
from protocol.security_algorithms import LabDiagnosticAlgorithm, LabPassCodeAlgorithm
from protocol.uds.security import SecurityLevel


class CurrentVinPassCode:
    """Level 0x11: the §5 Pass-Code for the ECU's own VIN, written once
    (diagnostic-contract.md §4). A blank replacement ECU whose VIN is not written yet accepts
    no Pass-Code (every key is wrong) until its one VIN write."""

    name = "lab-passcode"
    seed_length = SEED_NUMBER_LENGTH
    key_length = PASS_CODE_LENGTH

    def __init__(self, vin: Callable[[], str | None], master_secret: bytes) -> None:
        self._vin = vin
        self._master_secret = master_secret

    def compute_key(self, seed: bytes) -> bytes:
        vin = self._vin()
        if vin is None:
            raise VehicleError("no Pass-Code: this blank ECU's VIN is not written yet")
        return LabPassCodeAlgorithm(vin, self._master_secret).compute_key(seed)

    def verify(self, seed: bytes, key: bytes) -> bool:
        vin = self._vin()
        if vin is None:
            return False  # no VIN, no vehicle key: no Pass-Code is right
        return LabPassCodeAlgorithm(vin, self._master_secret).verify(seed, key)


def key_ecu_security_levels(
    *, diag_key: bytes, vin: Callable[[], str | None], master_secret: bytes, reset_name: str | None
) -> list[SecurityLevel]:
    """Level 0x01 (lab diagnostic key) and, unless ``reset_name`` is ``None`` (no reset on
    this ECU), level 0x11 with the Pass-Code for the ECU's own VIN (diagnostic-contract.md §3)."""
    levels = [
        SecurityLevel(
            LEVEL_EXTENDED_DIAGNOSTICS,
            LabDiagnosticAlgorithm(diag_key=diag_key),
            name="extended diagnostics",
        )
    ]
    if reset_name is not None:
        levels.append(
            SecurityLevel(
                LEVEL_IMMOBILIZER_RESET, CurrentVinPassCode(vin, master_secret), name=reset_name
            )
        )
    return levels
