"""Which key system simulates which generation (an explicit table)."""

from __future__ import annotations

from collections.abc import Callable

from ecusim.catalog import ModelYear, SystemType
from ecusim.errors import VehicleError
from ecusim.systems.base import CarContext, KeySystem
from ecusim.systems.ecm_integrated import EcmIntegratedSystem
from ecusim.systems.no_immobilizer import NoImmobilizerSystem
from ecusim.systems.smart import SmartKeySystem
from ecusim.systems.transponder import TransponderSystem

KeySystemBuilder = Callable[[CarContext], KeySystem]

KEY_SYSTEMS: dict[SystemType, KeySystemBuilder] = {
    SystemType.NONE: NoImmobilizerSystem,
    SystemType.ECM_INTEGRATED: EcmIntegratedSystem,
    SystemType.TRANSPONDER_KEY_ECU: TransponderSystem,
    SystemType.SMART_KEY: SmartKeySystem,
}


def build_key_system(model_year: ModelYear) -> KeySystemBuilder:
    """The builder for ``model_year``'s system; a clear error if it is not simulated."""
    builder = KEY_SYSTEMS.get(model_year.system_type)
    if builder is None:
        simulated = ", ".join(t.label for t in KEY_SYSTEMS)
        raise VehicleError(
            f"{model_year.name}: the {model_year.system_type.label} system is not simulated "
            f"yet (simulated: {simulated})"
        )
    return builder
