"""Whether two ISO-TP nodes can share one bus (ISO 15765-2 §10: one node per N_AI)."""

from __future__ import annotations

from collections.abc import Iterable

from protocol.isotp_binding import IsoTpAddressing


def _uses(addressing: IsoTpAddressing) -> dict[int, str]:
    return {addressing.request_id: "request ID", addressing.response_id: "response ID"}


def _same_channel(a: IsoTpAddressing, b: IsoTpAddressing) -> bool:
    """Frames on one CAN ID reach both nodes unless both use extended addressing with
    different address bytes (a normal-addressing node would take the byte for a PCI)."""
    if a.extended_address is None or b.extended_address is None:
        return True
    return a.extended_address == b.extended_address


def address_conflict(
    addressing: IsoTpAddressing, others: Iterable[tuple[str, IsoTpAddressing]]
) -> str | None:
    """Why ``addressing`` cannot join the named ``others`` on one bus, or ``None``.

    A CAN ID may serve one node as request or response ID (per address byte under extended
    addressing); a shared functional ID (0x7DF) is normal, but it must not be another node's
    physical ID."""
    mine = _uses(addressing)
    for name, other in others:
        theirs = _uses(other)
        if _same_channel(addressing, other):
            for can_id, role in mine.items():
                if can_id in theirs:
                    return (
                        f"{role} 0x{can_id:03X} is also the {theirs[can_id]} of {name} "
                        f"({other.describe()})"
                    )
        if addressing.functional_id in theirs:
            return (
                f"functional ID 0x{addressing.functional_id:03X} is also the "
                f"{theirs[addressing.functional_id]} of {name}"
            )
        if other.functional_id is not None and other.functional_id in mine:
            return (
                f"{mine[other.functional_id]} 0x{other.functional_id:03X} is also the "
                f"functional ID of {name}"
            )
    return None
