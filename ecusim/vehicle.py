"""The documented path of :class:`~ecusim.car.vehicle.Vehicle`, kept for existing code.

The vehicle lives in :mod:`ecusim.car.vehicle`; ``from ecusim import Vehicle`` works too.
"""

from ecusim.car.vehicle import Vehicle, VehicleError

__all__ = ["Vehicle", "VehicleError"]
