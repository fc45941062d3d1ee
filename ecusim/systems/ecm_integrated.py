"""ECM-integrated immobilizers (early cars): the engine ECU holds the key codes itself.

The bulletin: "Some early ECM based Immobilizers cannot be reset using Techstream ... refer to
the most recent SPOC bulletin." So there is no reset routine (0x0201 → 0x31) and DID 0x010A
reads 01 00. A blank ECM (a new or replacement part) registers the first 3 keys inserted; the
last one becomes the sub key [S]. See docs/other-generations.md.
"""

from __future__ import annotations

from dbc import body
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.immobilizer.config import EcmIntegratedConfig
from ecusim.ecus.immobilizer.ecm_integrated import EcmIntegratedImmobilizer
from ecusim.ecus.start_control import StartControl, StartResult
from ecusim.systems.base import CarContext, Publish
from ecusim.systems.transponder import KeyCodeSystem
from protocol.nvm import MemoryNvm


class EcmIntegratedSystem(KeyCodeSystem):
    """One node at the ECM's address that is both the engine ECU and the key-code holder."""

    def __init__(self, car: CarContext) -> None:
        super().__init__(car)
        self.immobilizer = EcmIntegratedImmobilizer(
            EcmIntegratedConfig(
                vin=car.vin,
                isotp=car.isotp,
                addressing=car.model_year.ecm_addressing(),
                ecm_codes=car.model_year.key_limits.ecm_codes or 3,
                diag_key=car.secrets.diag_key,
                master_secret=car.secrets.master_secret,
            ),
            physical=car.physical,
            lock=car.lock,
            communication_id=car.communication_id,
            factory_keys=self.factory_keys,
            nvm=car.nvm("engine"),
            seed_source=car.seed_source,
            clock=car.clock,
        )
        # The start decision is internal: nothing crosses the body bus, nothing to persist.
        self.start_control = StartControl(MemoryNvm(), None)

    @property
    def ecus(self) -> tuple[DiagnosableEcu, ...]:
        return (self.immobilizer,)

    def crank(self, publish: Publish) -> StartResult:
        result = self.start_control.crank(internal_permission=self.immobilizer.start_permitted())
        publish(body.ENGINE_STATUS)
        return result
