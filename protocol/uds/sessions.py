"""Session sets used by services, DIDs and routines to say where they are available."""

from __future__ import annotations

from protocol.constants import Session

ALL_SESSIONS: frozenset[int] | None = None
"""Available in every session the server supports."""

NON_DEFAULT_SESSIONS = frozenset({int(Session.EXTENDED), int(Session.PROGRAMMING)})
"""Available in the extended and programming sessions only."""

EXTENDED_ONLY = frozenset({int(Session.EXTENDED)})
"""Available in the extended diagnostic session only."""


def allows(sessions: frozenset[int] | None, session: int) -> bool:
    """Whether ``session`` is in ``sessions`` (``None`` means every session)."""
    return sessions is None or session in sessions
