"""New key blanks of a :class:`~ecusim.car.vehicle.Vehicle` in this process, presented to the
scan tool's key registration (:class:`ecusim.tool.registration.KeyPresenter`): the demo's
technician bringing the keys."""

from __future__ import annotations

from ecusim.car.keys import Key
from ecusim.car.vehicle import Vehicle
from ecusim.tool.console import Console


class VehiclePresenter:
    """Presents new key blanks of ``car`` (this process) with the Vehicle API."""

    def __init__(self, car: Vehicle, console: Console) -> None:
        self.car = car
        self.console = console
        self.keys: list[Key] = []
        """The keys presented, in order."""

    def present(self, number: int, kind: str, where: str) -> None:
        key = self.car.new_key(kind)
        self.keys.append(key)
        place = "into the ignition" if where == "cylinder" else f"to the engine {where}"
        self.console.info(f"the technician brings new {kind} key {number} ({key}) {place}")
        self.car.present_key(key, None if where == "cylinder" else where)

    def withdraw(self) -> None:
        self.car.withdraw_key()
