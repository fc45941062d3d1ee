"""Which ISO-TP nodes cannot share a bus (protocol.ecu_file.address_conflict)."""

from __future__ import annotations

from protocol.ecu_file import address_conflict
from protocol.isotp_binding import IsoTpAddressing

ENGINE = ("the engine", IsoTpAddressing(0x7E0, 0x7E8, functional_id=0x7DF))
IMMOBILIZER = ("the immobilizer", IsoTpAddressing(0x750, 0x758, extended_address=0x57))


def test_a_shared_functional_id_is_no_conflict() -> None:
    assert address_conflict(IsoTpAddressing(0x7A0, 0x7A8, functional_id=0x7DF), [ENGINE]) is None


def test_a_physical_id_used_as_another_nodes_functional_id_is_a_conflict() -> None:
    mine = IsoTpAddressing(0x7DF, 0x7A8)
    assert (
        address_conflict(mine, [ENGINE])
        == "request ID 0x7DF is also the functional ID of the engine"
    )
    mine = IsoTpAddressing(0x7A0, 0x7A8, functional_id=0x7E0)
    assert address_conflict(mine, [ENGINE]) == (
        "functional ID 0x7E0 is also the request ID of the engine"
    )


def test_my_request_id_as_another_nodes_response_id_is_a_conflict() -> None:
    assert address_conflict(IsoTpAddressing(0x7E8, 0x7A8), [ENGINE]) == (
        "request ID 0x7E8 is also the response ID of the engine (0x7E0 -> 0x7E8, functional 0x7DF)"
    )


def test_extended_addressing_separates_nodes_by_address_byte_only() -> None:
    other_byte = IsoTpAddressing(0x750, 0x758, extended_address=0x40)
    normal = IsoTpAddressing(0x750, 0x758)
    assert address_conflict(other_byte, [IMMOBILIZER]) is None
    assert address_conflict(normal, [IMMOBILIZER]) is not None  # it would read 0x57 as a PCI
