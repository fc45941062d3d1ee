"""Cars without an immobilizer (e.g. 1992 SC400): any key that turns the cylinder starts the
engine [S: domain.md]. Their keyless entry is the separate receiver (ROM type on 1992-93 SC)."""

from __future__ import annotations

from dbc import body
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.engine import EngineConfig, EngineEcu
from ecusim.ecus.start_control import StartResult
from ecusim.systems.base import CarContext, KeySystem, Publish


class NoImmobilizerSystem(KeySystem):
    """An engine ECU with no immobilizer link: cranking with a key in starts it."""

    def __init__(self, car: CarContext) -> None:
        super().__init__(car)
        self.engine = EngineEcu(
            EngineConfig(vin=car.vin, addressing=car.model_year.ecm_addressing(), isotp=car.isotp),
            nvm=car.nvm("engine"),
            seed_source=car.seed_source,
            communication_id=None,
        )
        self.start_control = self.engine.start_control

    @property
    def ecus(self) -> tuple[DiagnosableEcu, ...]:
        return (self.engine,)

    def crank(self, publish: Publish) -> StartResult:
        result = self.start_control.crank()
        publish(body.ENGINE_STATUS)
        return result
