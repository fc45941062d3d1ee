"""Cars without an immobilizer (e.g. 1992 SC400): any key that turns the cylinder starts the
engine [S: domain.md]. Their keyless entry is the separate receiver (ROM type on 1992-93 SC)."""

from __future__ import annotations

from dbc import body
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.engine import EngineEcu
from ecusim.ecus.start_control import StartResult
from ecusim.systems.base import CarContext, KeySystem, Publish, build_engine


class NoImmobilizerSystem(KeySystem):
    """An engine ECU with no immobilizer link: cranking with a key in starts it."""

    engine: EngineEcu

    def __init__(self, car: CarContext) -> None:
        super().__init__(car)
        self.engine = build_engine(car, None)
        self.start_control = self.engine.start_control

    @property
    def ecus(self) -> tuple[DiagnosableEcu, ...]:
        return (self.engine,)

    def crank(self, publish: Publish) -> StartResult:
        result = self.start_control.crank()
        publish(body.ENGINE_STATUS)
        return result
