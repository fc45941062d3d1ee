"""What the scan-tool workflow raises: one sentence the technician can act on."""

from __future__ import annotations

from ecusim.errors import EcusimError


class ToolError(EcusimError):
    """A step of the procedure could not be done; ``str()`` says why and what to do."""


class CarRefusedError(ToolError):
    """The car answered a request with a negative response code (ISO 14229-1 §8.7.4)."""

    def __init__(self, message: str, nrc: int) -> None:
        super().__init__(message)
        self.nrc = nrc


class CancelledError(ToolError):
    """The technician declined a confirmation; nothing was changed on the car."""


class NoAnswerError(ToolError):
    """A node did not answer a request in time (it may be missing, or asleep)."""


class BusLostError(ToolError):
    """The CAN bus itself failed (e.g. the python-can-remote hub went away): no node can answer,
    so this is not taken for a silent car."""
