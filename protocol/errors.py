"""One exception tree for the protocol package.

Every exception derives from :class:`ProtocolError` and, where it fits, from the matching builtin
(``ValueError``, ``OSError``) so callers can catch either (the python-can ``CanError`` pattern).
"""

from __future__ import annotations

from collections.abc import Mapping

from protocol.constants import Nrc


class ProtocolError(Exception):
    """Base class of every error raised by ``protocol``."""


class ConfigurationError(ProtocolError, ValueError):
    """A configuration value is invalid (raised at construction, never mid-session)."""


class NegativeResponseError(ProtocolError):
    """Raised by a service handler to answer ``7F <sid> <nrc>`` (ISO 14229-1 §8.7).

    Only the server core turns it into bytes, so response rules (functional suppression,
    response-pending bookkeeping) live in one place.
    """

    def __init__(self, nrc: Nrc, reason: str = "") -> None:
        self.nrc = nrc
        self.reason = reason
        text = f"{nrc.name} (0x{int(nrc):02X})"
        super().__init__(f"{text}: {reason}" if reason else text)


class NvmError(ProtocolError, OSError):
    """Non-volatile memory could not be read or written."""


class NvmCorruptError(NvmError):
    """An NVM file exists but is corrupt, truncated, foreign or of an unknown version.

    The message names the file and how to reinitialise it; the file is never replaced silently.
    """


class NvmOwnerError(NvmCorruptError):
    """An NVM file is valid but carries the ``owner`` of another device (e.g. another car's
    identity): ``owner`` is what the file holds, ``expected`` who opened it."""

    def __init__(
        self, message: str, *, owner: Mapping[str, object], expected: Mapping[str, object]
    ) -> None:
        super().__init__(message)
        self.owner = dict(owner)
        self.expected = dict(expected)


class CodeFormatError(ProtocolError, ValueError):
    """A Seed Number or Pass-Code string is not 16 bytes of hexadecimal."""


class UnknownAlgorithmError(ProtocolError, KeyError):
    """No security algorithm is registered under the requested name."""

    def __str__(self) -> str:
        # KeyError quotes its argument; this message is a sentence, not a key.
        return str(self.args[0]) if self.args else ""
