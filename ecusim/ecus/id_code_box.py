"""The ID code box of smart-key cars: the immobilizer code exchange with the ECM.

Not diagnosable (diagnostic-contract.md §1). It holds the ECU-ECM communication ID (stored in its
NVM at manufacture), listens to the certification ECU's ``SMART_KEY_STATUS`` and the steering lock's
``STEERING_LOCK_STATUS`` on the body bus, and sends the ECM ``START_PERMISSION``: start permitted
only while the certification ECU reports a verified key and an authorized start and the steering
is unlocked. It also relays the certification ECU's state as ``IMMOBILIZER_STATUS`` (the DBC's
``IMMOBILIZER`` node on smart-key cars; docs/body-network.md).

Whatever it hears on the bus it believes: a device that injects ``SMART_KEY_STATUS`` frames can
make it grant a start (the 2023 CAN injection of domain.md; no SecOC is modelled) [LAB].
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from protocol.nvm import MemoryNvm, NvmStore

Signals = dict[str, float | int]

_RELAYED = ("IndicatorMode", "IndicatorCode", "RegistrationMode", "SmartKeys")


class IdCodeBox:
    """The ID code box: what it last heard on the body bus and what it sends the ECM."""

    name = "id_code_box"

    def __init__(
        self, *, lock: threading.RLock, communication_id: int, nvm: NvmStore | None = None
    ) -> None:
        """``communication_id``: the ECU-ECM ID shared with the ECM at manufacture (stored in
        NVM on first start; the stored one wins afterwards)."""
        self.lock = lock
        self._nvm = nvm if nvm is not None else MemoryNvm()
        self.communication_id = self._load_or_store(communication_id)
        self.key_verified = False
        self.start_authorized = False
        self.steering_locked = True
        self._smart_status: Signals = {}

    def _load_or_store(self, communication_id: int) -> int:
        data = self._nvm.load()
        if data is None:
            self._nvm.save({"communication_id": communication_id})
            return communication_id
        stored = data.get("communication_id")
        if isinstance(stored, bool) or not isinstance(stored, int) or not 0 <= stored <= 0xFFFFFFFF:
            raise self._nvm.corrupt(f"communication_id={stored!r} is not a 32-bit number")
        return stored

    # -- what it hears -------------------------------------------------------------------------

    def on_smart_key_status(self, values: Mapping[str, float | int]) -> None:
        with self.lock:
            self.key_verified = bool(values["KeyVerified"])
            self.start_authorized = bool(values["StartAuthorized"])
            self._smart_status = {name: int(value) for name, value in values.items()}

    def on_steering_lock_status(self, values: Mapping[str, float | int]) -> None:
        with self.lock:
            self.steering_locked = bool(values["SteeringLocked"])

    # -- what it sends -------------------------------------------------------------------------

    def start_permitted(self) -> bool:
        with self.lock:
            return self.key_verified and self.start_authorized and not self.steering_locked

    def start_permission(self) -> Signals:
        """``START_PERMISSION`` to the ECM (the sequence number is filled in by the sender)."""
        return {
            "CommunicationId": self.communication_id,
            "StartPermitted": int(self.start_permitted()),
        }

    def immobilizer_status(self) -> Signals:
        """``IMMOBILIZER_STATUS``: the certification ECU's latest state, relayed (set and
        blinking-free defaults until the first ``SMART_KEY_STATUS`` is heard)."""
        with self.lock:
            status = self._smart_status
            signals: Signals = {
                "ImmobilizerSet": int(not self.key_verified),
                "MasterKeys": 0,
                "SubKeys": 0,
                "WaitingPeriodRemaining": int(status.get("WaitingPeriodRemaining", 0)),
            }
            signals.update({name: int(status.get(name, 0)) for name in _RELAYED})
            return signals
