"""The key-code ECUs' write-once VIN memory (diagnostic-contract.md §4)."""

from __future__ import annotations

import pytest

from ecusim.ecus.key_ecu.vin_memory import VinMemory
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.nvm import MemoryNvm

MANUFACTURED = "JTHLSL1S045000001"
FIRST = "1M8GDM9AXKP042788"


def test_a_stale_copy_cannot_write_the_vin_a_second_time() -> None:
    """Two cars built on one folder before either ran: the one write of the blank ECU made
    through the first must not be overwritten through the second."""
    nvm = MemoryNvm()
    VinMemory(nvm, MANUFACTURED).erase_for_blank_part()
    first, second = VinMemory(nvm, MANUFACTURED), VinMemory(nvm, MANUFACTURED)
    assert not second.is_set
    first.store(FIRST)
    with pytest.raises(NegativeResponseError) as refused:
        second.store(MANUFACTURED)
    assert refused.value.nrc == Nrc.CONDITIONS_NOT_CORRECT
    assert nvm.load() == {"vin": FIRST}
