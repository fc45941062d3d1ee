"""The contract between the server core and one service handler."""

from __future__ import annotations

import abc
from collections.abc import Container
from typing import TYPE_CHECKING, ClassVar

from protocol.constants import Nrc, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.pending import Reply
from protocol.uds.request import Request
from protocol.uds.sessions import allows

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


class ServiceHandler(abc.ABC):
    """One UDS service.

    The server applies the generic checks in ISO 14229-1 order (§7.5, Figures 5-6): SID supported
    (0x11), SID in session (0x7F, from ``sessions``), minimum length (0x13, ``min_length`` counts
    the SID), then for services with a sub-function :meth:`check_sub_function` (0x12, 0x7E,
    0x33). :meth:`handle` then does exact-length (0x13), sequence (0x24) and service-specific
    checks and returns the response data after the SID.
    """

    sid: ClassVar[Sid]
    min_length: ClassVar[int]
    has_sub_function: ClassVar[bool] = False

    def __init__(self, *, sessions: frozenset[int] | None = None) -> None:
        self.sessions = sessions

    def available_in(self, session: int) -> bool:
        return allows(self.sessions, session)

    def supported_sub_functions(self, server: UdsServer) -> Container[int]:
        """Sub-function values (suppress bit removed) this service answers; others get 0x12."""
        return ()

    def check_sub_function(self, request: Request, server: UdsServer) -> None:
        """Raise 0x12 (or, in overrides, 0x7E / 0x33) for the request's sub-function."""
        if request.sub_function not in self.supported_sub_functions(server):
            raise NegativeResponseError(
                Nrc.SUB_FUNCTION_NOT_SUPPORTED, f"sub-function {request.sub_function:#04x}"
            )

    @abc.abstractmethod
    def handle(self, request: Request, server: UdsServer) -> Reply:
        """Process a request that passed the generic checks."""


def require_length(request: Request, length: int) -> None:
    """Exact-length check: NRC 0x13 unless the payload is ``length`` bytes long."""
    if len(request.payload) != length:
        raise NegativeResponseError(
            Nrc.INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT,
            f"expected {length} bytes, got {len(request.payload)}",
        )
