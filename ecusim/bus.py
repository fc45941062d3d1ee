"""A vehicle's connection to CAN: one python-can ``Bus`` and its one ``Notifier``.

python-can 4.6 refuses a second Notifier on a bus, so every ECU of a vehicle attaches its
listeners (can-isotp stacks, loggers) to this one.
"""

from __future__ import annotations

import can

NOTIFIER_TIMEOUT_S = 0.1
"""How long the Notifier blocks on a read before checking for a stop (python-can: 1 s)."""


class BusConnection:
    """Owns a Notifier over ``bus``; closes the bus too when ``owns_bus`` is true."""

    def __init__(self, bus: can.BusABC, *, owns_bus: bool = True) -> None:
        self.bus = bus
        self.owns_bus = owns_bus
        self.notifier = can.Notifier(bus, [], timeout=NOTIFIER_TIMEOUT_S)

    def __enter__(self) -> BusConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.notifier.stop()
        if self.owns_bus:
            self.bus.shutdown()
