"""The VIN a key-code ECU keeps in NVM (section ``identity``)."""

from __future__ import annotations

from ecusim.catalog.vin import VinError, validate_vin
from protocol.nvm import NvmStore


class VinMemory:
    """The VIN an ECU holds: the one it was made for, until 0x2E F190 writes another (kept in
    NVM section ``identity``)."""

    def __init__(self, nvm: NvmStore, manufactured: str) -> None:
        self._nvm = nvm
        stored = nvm.load()
        if stored is None:
            self.vin = manufactured
            return
        try:
            self.vin = validate_vin(str(stored.get("vin")))
        except VinError as exc:
            raise nvm.corrupt(f"stored VIN: {exc}") from exc

    def store(self, vin: str) -> None:
        """Write first, then use: Pass-Codes are computed for the new VIN from now on."""
        self._nvm.save({"vin": vin})
        self.vin = vin
