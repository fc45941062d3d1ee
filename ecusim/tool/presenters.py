"""Who brings the new keys, besides the technician (:class:`~.registration.PromptPresenter`).

:class:`LabKeyPresenter` presents new lab key blanks to a simulated car in another process with
the shipped DBC's ``LAB_KEY_CMD`` (the car applies it as if the key were there). A car in the same
process is given its keys by :class:`ecusim.demo.vehicle_presenter.VehiclePresenter`: the scan
tool itself never reaches into a car, only the bus does.
"""

from __future__ import annotations

import random
from typing import Final

import can

from dbc import body
from ecusim.car.keys import Key
from ecusim.tool.console import Console
from ecusim.tool.errors import ToolError

KEY_LOCATIONS: Final = {"cylinder": 0, "cabin": 0, "outside": 1, "switch": 2}
"""``LAB_KEY_CMD.KeyLocation`` (the DBC's value table)."""


class LabKeyPresenter:
    """Presents new lab keys (random transponder IDs from ``seed``) with ``LAB_KEY_CMD``."""

    def __init__(self, bus: can.BusABC, console: Console, *, seed: int | None = None) -> None:
        self.bus = bus
        self.console = console
        self._rng = random.Random(seed)
        self.keys: list[Key] = []
        """The keys presented, in order (their transponder IDs work with 'ecusim run')."""

    def present(self, number: int, kind: str, where: str) -> None:
        key = Key.blank(kind, self._rng)
        self.keys.append(key)
        self.console.info(f"presenting new {kind} key {number} ({key}) at the {where} [lab]")
        self._send(KeyAction=1, TransponderId=key.transponder_id, KeyLocation=KEY_LOCATIONS[where])

    def withdraw(self) -> None:
        self._send(KeyAction=0, TransponderId=0, KeyLocation=0)

    def _send(self, **signals: int) -> None:
        try:
            self.bus.send(body.encode_message(body.LAB_KEY_CMD, signals))
        except can.CanError as exc:
            raise ToolError(f"could not send the lab key command: {exc}") from exc
