"""The VIN a key-code ECU keeps in NVM (section ``identity``): written once, never again
(diagnostic-contract.md §4, 0xF190).

The Pass-Code and the vehicle key are derived from this VIN (diagnostic-contract.md §5), so it is
the ECU's own identity: set at manufacture for the car the ECU is made for, or, on a blank
replacement ECU, by its one 0x2E F190 write. Once set, a write is refused with 0x22
(conditionsNotCorrect) and changes nothing.

NVM record: none (never written: the VIN it was manufactured with), ``{"vin": null}`` (a blank
replacement part, no VIN yet) or ``{"vin": "<17 characters>"}``.
"""

from __future__ import annotations

from ecusim.catalog.vin import VinError, validate_written_vin
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.nvm import NvmStore


class VinMemory:
    """The VIN an ECU holds: the one it was made for, or ``None`` on a blank replacement ECU
    until its one write (kept in NVM section ``identity``)."""

    def __init__(self, nvm: NvmStore, manufactured: str) -> None:
        self._nvm = nvm
        self.vin: str | None
        stored = nvm.load()
        if stored is None:
            self.vin = manufactured
            return
        value = stored.get("vin")
        if value is None:
            self.vin = None
            return
        try:
            self.vin = validate_written_vin(str(value))
        except VinError as exc:
            raise nvm.corrupt(f"stored VIN: {exc}") from exc

    @property
    def is_set(self) -> bool:
        """Whether the VIN is written (at manufacture or by the blank part's one write)."""
        return self.vin is not None

    def store(self, vin: str) -> None:
        """The one write into a blank ECU: saved first, then used (Pass-Codes are computed for
        it from now on). Once the VIN is set: 0x22 conditionsNotCorrect, nothing changes."""
        stored = self._nvm.load()  # what NVM holds now, not what this object read at build
        if self.vin is not None or (stored is not None and stored.get("vin") is not None):
            raise NegativeResponseError(
                Nrc.CONDITIONS_NOT_CORRECT, "the VIN of a key-code ECU is written once"
            )
        self._nvm.save({"vin": vin})
        self.vin = vin

    def erase_for_blank_part(self) -> None:
        """A new, blank replacement ECU is fitted: it has no VIN until its one write."""
        self._nvm.save({"vin": None})
        self.vin = None
