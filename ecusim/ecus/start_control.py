"""The ECM's side of the immobilizer: start only with a matching ECU-ECM communication ID.

The immobilizer side broadcasts ``START_PERMISSION`` (communication ID, permitted, sequence) on
the body bus; the ECM keeps the latest one it saw and, when the engine is cranked, starts only if
start is permitted and the ID matches its own (a mismatch is what the immobilizer logs as B2799;
domain.md [S]). An engine without an immobilizer link (``communication_id=None``, e.g. the
standalone node or a car without an immobilizer) always starts.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from protocol.nvm import NvmStore

logger = logging.getLogger(__name__)


class StartResult(enum.IntEnum):
    """``ENGINE_STATUS.LastStartResult`` values."""

    NONE = 0
    STARTED = 1
    NO_PERMISSION = 2
    ID_MISMATCH = 3


@dataclass(frozen=True)
class StartPermission:
    """The content of the latest START_PERMISSION frame."""

    communication_id: int
    permitted: bool
    sequence: int

    @classmethod
    def from_signals(cls, values: Mapping[str, float | int]) -> StartPermission:
        """The permission a decoded START_PERMISSION frame carries."""
        return cls(
            int(values["CommunicationId"]),
            bool(values["StartPermitted"]),
            int(values["Sequence"]),
        )


class StartControl:
    """Engine running state and start decisions; thread-safe."""

    def __init__(self, nvm: NvmStore, communication_id: int | None) -> None:
        self._nvm = nvm
        self._lock = threading.Lock()
        self.communication_id = self._load_or_store(communication_id)
        self.engine_running = False
        self.start_attempts = 0
        self.last_result = StartResult.NONE
        self.last_permission: StartPermission | None = None

    def _load_or_store(self, communication_id: int | None) -> int | None:
        data = self._nvm.load()
        if data is None:
            if communication_id is not None:
                self._nvm.save({"communication_id": communication_id})
            return communication_id
        stored = data.get("communication_id")
        if isinstance(stored, bool) or not isinstance(stored, int) or not 0 <= stored <= 0xFFFFFFFF:
            raise self._nvm.corrupt(f"communication_id={stored!r} is not a 32-bit number")
        return stored

    def on_start_permission(self, permission: StartPermission) -> None:
        with self._lock:
            self.last_permission = permission

    def crank(self, *, internal_permission: bool | None = None) -> StartResult:
        """The starter turns: decide from the latest permission frame, or from
        ``internal_permission`` when the ECM verifies the key itself (ECM-integrated)."""
        with self._lock:
            self.start_attempts = (self.start_attempts + 1) & 0xFF
            permission = self.last_permission
            if internal_permission is not None:
                result = StartResult.STARTED if internal_permission else StartResult.NO_PERMISSION
            elif self.communication_id is None:
                result = StartResult.STARTED
            elif permission is None or not permission.permitted:
                result = StartResult.NO_PERMISSION
            elif permission.communication_id != self.communication_id:
                result = StartResult.ID_MISMATCH
            else:
                result = StartResult.STARTED
            self.last_result = result
            self.engine_running = self.engine_running or result is StartResult.STARTED
            logger.info("start attempt %d: %s", self.start_attempts, result.name)
            return result

    def stop_engine(self) -> None:
        with self._lock:
            self.engine_running = False
