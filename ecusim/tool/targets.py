"""The diagnosable nodes the scan tool talks to, and their addresses (diagnostic-contract.md §1)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ecusim.catalog import ModelYear, SystemType
from protocol.isotp_binding import IsoTpAddressing


class KeySystem(enum.StrEnum):
    """The reset utility the technician chooses (bulletin Section 3 step 3)."""

    IMMOBILIZER = "immobilizer"
    SMART_KEY = "smart"


@dataclass(frozen=True)
class Target:
    """One node: a name for messages and its ISO-TP addresses (request → response)."""

    name: str
    addressing: IsoTpAddressing

    def describe(self) -> str:
        return f"{self.name} ({self.addressing.describe()})"


ENGINE = Target("engine ECU", IsoTpAddressing(request_id=0x7E0, response_id=0x7E8))
IMMOBILIZER = Target(
    "transponder key ECU",
    IsoTpAddressing(request_id=0x750, response_id=0x758, extended_address=0x57),
)
CERTIFICATION = Target(
    "certification ECU",
    IsoTpAddressing(request_id=0x750, response_id=0x758, extended_address=0xB5),
)
DEFAULT_KEY_TARGETS = {KeySystem.IMMOBILIZER: IMMOBILIZER, KeySystem.SMART_KEY: CERTIFICATION}
"""The contract's default key-code ECUs."""


def _physical(addressing: IsoTpAddressing) -> IsoTpAddressing:
    """The same addresses without the functional ID (the tool talks physically)."""
    return IsoTpAddressing(
        request_id=addressing.request_id,
        response_id=addressing.response_id,
        extended_address=addressing.extended_address,
    )


def targets_for(model_year: ModelYear | None) -> tuple[Target, dict[KeySystem, Target]]:
    """The engine ECU and the key-code ECUs of a model-year of the support chart (its own
    addresses), or the contract's defaults when the car is not known."""
    if model_year is None:
        return ENGINE, dict(DEFAULT_KEY_TARGETS)
    engine = Target("engine ECU", _physical(model_year.ecm_addressing()))
    keys: dict[KeySystem, Target] = {}
    node = model_year.immobilizer_addressing()
    if model_year.system_type is SystemType.ECM_INTEGRATED:
        keys[KeySystem.IMMOBILIZER] = Target("engine ECU (key codes)", engine.addressing)
    elif model_year.system_type is SystemType.TRANSPONDER_KEY_ECU and node is not None:
        keys[KeySystem.IMMOBILIZER] = Target(IMMOBILIZER.name, _physical(node))
    elif model_year.system_type is SystemType.SMART_KEY and node is not None:
        keys[KeySystem.SMART_KEY] = Target(CERTIFICATION.name, _physical(node))
    return engine, keys
