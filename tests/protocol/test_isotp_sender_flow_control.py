"""The binding as an ISO-TP sender: N_WFTmax and the reserved-STmin hook (ISO 15765-2 §9.6.5;
the wire behaviour is in tests/conformance/test_iso15765_flow_control.py)."""

from __future__ import annotations

import isotp
import pytest

from protocol.errors import ConfigurationError
from protocol.isotp_binding import (
    DEFAULT_N_WFT_MAX,
    AddressedCanStack,
    IsoTpParameters,
    is_reserved_stmin,
    with_reserved_stmin_as_127_ms,
)


def test_n_wft_max_default_allows_waits_and_reaches_can_isotp() -> None:
    params = IsoTpParameters()
    assert params.n_wft_max == DEFAULT_N_WFT_MAX > 0  # can-isotp's own 0 refuses every WAIT
    assert params.to_isotp()["wftmax"] == DEFAULT_N_WFT_MAX
    assert IsoTpParameters(n_wft_max=0).to_isotp()["wftmax"] == 0  # WAIT not allowed


@pytest.mark.parametrize("value", [-1, 0x100, True])
def test_bad_n_wft_max_is_refused(value: int) -> None:
    with pytest.raises(ConfigurationError, match="N_WFTmax"):
        IsoTpParameters(n_wft_max=value)


def test_reserved_stmin_values_follow_table_20() -> None:
    reserved = [value for value in range(0x100) if is_reserved_stmin(value)]
    assert reserved == [*range(0x80, 0xF1), *range(0xFA, 0x100)]


@pytest.mark.parametrize("prefix", [b"", b"\x57"], ids=["normal", "extended"])
def test_a_flow_controls_reserved_stmin_becomes_0x7f(prefix: bytes) -> None:
    # FS=0 ContinueToSend, BS 0x02, STmin 0xFA (reserved), padding 0xCC.
    frame = prefix + bytes([0x30, 0x02, 0xFA, 0xCC, 0xCC])
    assert with_reserved_stmin_as_127_ms(frame, len(prefix)) == prefix + bytes(
        [0x30, 0x02, 0x7F, 0xCC, 0xCC]  # the same flow control, STmin 127 ms
    )


@pytest.mark.parametrize(
    "frame",
    [
        bytes([0x30, 0x00, 0xF5]),  # STmin 0xF5 = 500 µs: valid, kept
        bytes([0x30, 0x00, 0x7F]),  # STmin 127 ms: valid, kept
        bytes([0x21, 0x00, 0xFA]),  # a consecutive frame: its data is not an STmin
        bytes([0x30, 0x00]),  # too short to carry an STmin (can-isotp refuses it itself)
    ],
)
def test_other_frames_are_left_alone(frame: bytes) -> None:
    assert with_reserved_stmin_as_127_ms(frame, 0) == frame


def test_the_hook_is_still_needed_and_still_there() -> None:
    """Pinned to can-isotp 2.0.x: it refuses a reserved STmin itself (when a release reads it as
    127 ms, drop the hook), and it reads frames through ``_rx_canbus``, which the stack
    overrides."""
    with pytest.raises(ValueError, match="StMin"):
        isotp.protocol.PDU(isotp.CanMessage(arbitration_id=0x7E0, data=bytes([0x30, 0, 0xFA])))
    assert "_rx_canbus" in vars(isotp.NotifierBasedCanStack)
    assert "_rx_canbus" in vars(AddressedCanStack)
