"""IsoTpAddressing and IsoTpParameters: validation at construction and conversion to can-isotp
(units: seconds here, milliseconds and the raw STmin byte there; ISO 15765-2)."""

from __future__ import annotations

import math
import uuid
from typing import Any

import can
import isotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ConfigurationError
from protocol.isotp_binding import AddressedCanStack, IsoTpAddressing, IsoTpParameters

# -- IsoTpAddressing ---------------------------------------------------------------------------


def test_normal_addressing_maps_to_can_isotp_addresses() -> None:
    addressing = IsoTpAddressing(request_id=0x7E0, response_id=0x7E8, functional_id=0x7DF)

    physical = addressing.physical()
    functional = addressing.functional()

    assert not physical.requires_rx_extension_byte()  # normal addressing: no N_TA byte
    assert physical.get_tx_payload_prefix() == b""
    assert not physical.is_tx_29bits()
    assert physical.get_rx_arbitration_id() == 0x7E0  # the server receives requests
    assert physical.get_tx_arbitration_id() == 0x7E8  # and sends responses
    assert functional is not None
    assert functional.get_rx_arbitration_id() == 0x7DF
    assert functional.get_tx_arbitration_id() == 0x7E8  # functional requests: physical answers
    assert addressing.describe() == "0x7E0 -> 0x7E8, functional 0x7DF"


def test_no_functional_id_means_no_functional_address() -> None:
    addressing = IsoTpAddressing(request_id=0x7E0, response_id=0x7E8)

    assert addressing.functional() is None
    assert addressing.describe() == "0x7E0 -> 0x7E8"


def test_extended_addressing_carries_the_sub_address_both_ways() -> None:
    addressing = IsoTpAddressing(request_id=0x750, response_id=0x758, extended_address=0x57)

    physical = addressing.physical()

    assert not physical.is_tx_29bits()
    assert physical.get_rx_arbitration_id() == 0x750
    assert physical.get_tx_arbitration_id() == 0x758
    assert physical.get_tx_payload_prefix() == bytes([0x57])  # N_TA echoed in responses
    assert physical.requires_rx_extension_byte()
    assert physical.get_rx_extension_byte() == 0x57  # only frames for this sub-address
    mine = isotp.CanMessage(arbitration_id=0x750, dlc=8, data=bytes([0x57, 0x02, 0x3E, 0x00]))
    other = isotp.CanMessage(arbitration_id=0x750, dlc=8, data=bytes([0xB5, 0x02, 0x3E, 0x00]))
    assert physical.is_for_me(mine)
    assert not physical.is_for_me(other)
    assert addressing.describe() == "0x750 -> 0x758 ext 0x57"


@pytest.mark.parametrize("can_id", [0x000, 0x001, 0x7DF, 0x7FF])
def test_every_11_bit_id_is_accepted(can_id: int) -> None:
    other, third = (0x123, 0x124) if can_id not in (0x123, 0x124) else (0x125, 0x126)
    IsoTpAddressing(request_id=can_id, response_id=other)
    IsoTpAddressing(request_id=other, response_id=can_id)
    IsoTpAddressing(request_id=other, response_id=third, functional_id=can_id)


@pytest.mark.parametrize("field", ["request_id", "response_id", "functional_id"])
@pytest.mark.parametrize("value", [-1, 0x800, 0x18DAF110])
def test_ids_outside_11_bits_are_refused(field: str, value: int) -> None:
    kwargs: dict[str, Any] = {"request_id": 0x7E0, "response_id": 0x7E8, field: value}
    with pytest.raises(ConfigurationError, match=field):
        IsoTpAddressing(**kwargs)


@pytest.mark.parametrize("value", [0x00, 0x57, 0xB5, 0xFF])
def test_extended_address_bytes_are_accepted(value: int) -> None:
    address = IsoTpAddressing(request_id=0x750, response_id=0x758, extended_address=value)
    assert address.physical().get_tx_payload_prefix() == bytes([value])


@pytest.mark.parametrize("value", [-1, 0x100, 0x1FF])
def test_extended_address_outside_a_byte_is_refused(value: int) -> None:
    with pytest.raises(ConfigurationError, match="extended address"):
        IsoTpAddressing(request_id=0x750, response_id=0x758, extended_address=value)


def test_request_and_response_ids_must_differ() -> None:
    with pytest.raises(ConfigurationError, match="differ"):
        IsoTpAddressing(request_id=0x7E0, response_id=0x7E0)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"functional_id": 0x7E0}, id="functional-equals-request"),
        pytest.param({"functional_id": 0x7E8}, id="functional-equals-response"),
    ],
)
def test_functional_id_must_differ_from_the_physical_ids(kwargs: dict[str, Any]) -> None:
    """Equal to the request ID, every request would reach two stacks and be answered twice;
    equal to the response ID, the node would listen to its own responses."""
    with pytest.raises(ConfigurationError):
        IsoTpAddressing(request_id=0x7E0, response_id=0x7E8, **kwargs)


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        IsoTpAddressing(request_id=0x800, response_id=0x7E8)


# -- IsoTpParameters: validation ---------------------------------------------------------------


def test_defaults_follow_the_spec() -> None:
    """diagnostic-contract.md §1: pad 0xCC, N_Bs = N_Cr = 1.0 s, BS = 0, STmin = 0, classic CAN."""
    params = IsoTpParameters()
    assert params.padding == 0xCC
    assert params.n_bs_s == 1.0
    assert params.n_cr_s == 1.0
    assert params.block_size == 0
    assert params.st_min_s == 0.0
    assert params.fd is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": -1},
        {"padding": 0x100},
        {"block_size": -1},
        {"block_size": 0x100},
        {"st_min_s": -0.001},
        {"st_min_s": 0.128},
        {"n_bs_s": 0.0},
        {"n_cr_s": 0.0},
        {"n_cr_s": -1.0},
    ],
    ids=lambda kwargs: ",".join(f"{k}={v}" for k, v in kwargs.items()),
)
def test_invalid_parameters_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        IsoTpParameters(**kwargs)


@pytest.mark.parametrize("field", ["n_bs_s", "n_cr_s"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_timeouts_are_refused_at_construction(field: str, value: float) -> None:
    """Configuration is validated at construction (design guide); a NaN or infinite timeout
    must not get through to fail later, inside the binding, as a plain ValueError."""
    kwargs: dict[str, Any] = {field: value}
    with pytest.raises(ConfigurationError):
        IsoTpParameters(**kwargs)


@pytest.mark.parametrize("max_payload", [0, -1])
def test_max_payload_must_be_positive(max_payload: int) -> None:
    with pytest.raises(ConfigurationError):
        IsoTpParameters(max_payload=max_payload)


@pytest.mark.parametrize("field", ["n_bs_s", "n_cr_s"])
def test_a_positive_timeout_never_becomes_zero_milliseconds(field: str) -> None:
    """0.1 ms is > 0 s and accepted, so it must not turn into can-isotp's 0 ms (refusing
    sub-millisecond values at construction would be as good)."""
    kwargs: dict[str, Any] = {field: 0.0001}
    try:
        params = IsoTpParameters(**kwargs).to_isotp()
    except ConfigurationError:
        return
    key = {"n_bs_s": "rx_flowcontrol_timeout", "n_cr_s": "rx_consecutive_frame_timeout"}[field]
    assert params[key] >= 1


@pytest.mark.parametrize("padding", [None, 0x00, 0xAA, 0xCC, 0xFF])
def test_valid_paddings(padding: int | None) -> None:
    assert IsoTpParameters(padding=padding).to_isotp()["tx_padding"] == padding


# -- IsoTpParameters: conversion ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("st_min_s", "raw"),
    [
        (0.0, 0x00),  # no gap
        (0.001, 0x01),  # 1 ms
        (0.005, 0x05),  # 5 ms
        (0.127, 0x7F),  # 127 ms, the largest millisecond value
        (0.0001, 0xF1),  # 100 µs
        (0.0005, 0xF5),  # 500 µs
        (0.0009, 0xF9),  # 900 µs, the largest sub-millisecond value
    ],
)
def test_st_min_encoding(st_min_s: float, raw: int) -> None:
    """ISO 15765-2 Table 20: 0x00-0x7F milliseconds, 0xF1-0xF9 hundreds of microseconds."""
    assert IsoTpParameters(st_min_s=st_min_s).to_isotp()["stmin"] == raw


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(min_value=0.0, max_value=0.127, allow_nan=False))
def test_st_min_byte_is_always_a_valid_iso_value(st_min_s: float) -> None:
    raw = IsoTpParameters(st_min_s=st_min_s).to_isotp()["stmin"]
    assert 0x00 <= raw <= 0x7F or 0xF1 <= raw <= 0xF9
    isotp.TransportLayerLogic(  # can-isotp accepts it
        rxfn=lambda timeout: None,
        txfn=lambda msg: None,
        address=isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7E8, rxid=0x7E0),
        params={"stmin": raw},
    )


def test_durations_become_milliseconds() -> None:
    params = IsoTpParameters(n_bs_s=0.5, n_cr_s=0.2).to_isotp()

    assert params["rx_flowcontrol_timeout"] == 500  # N_Bs
    assert params["rx_consecutive_frame_timeout"] == 200  # N_Cr
    assert IsoTpParameters().to_isotp()["rx_consecutive_frame_timeout"] == 1000


def test_classic_can_parameters() -> None:
    params = IsoTpParameters(block_size=8, st_min_s=0.002).to_isotp()

    assert params["blocksize"] == 8
    assert params["stmin"] == 0x02
    assert params["tx_data_length"] == 8
    assert params["tx_data_min_length"] == 8  # padded to 8 bytes
    assert params["tx_padding"] == 0xCC
    assert params["can_fd"] is False
    assert params["max_frame_size"] == 4095
    assert params["blocking_send"] is False


def test_no_padding_means_no_minimum_length() -> None:
    params = IsoTpParameters(padding=None).to_isotp()

    assert params["tx_padding"] is None
    assert params["tx_data_min_length"] is None


def test_can_fd_parameters() -> None:
    params = IsoTpParameters(fd=True, bitrate_switch=True).to_isotp()

    assert params["can_fd"] is True
    assert params["bitrate_switch"] is True
    assert params["tx_data_length"] == 64
    assert params["tx_data_min_length"] == 8


def test_extra_overrides_last() -> None:
    params = IsoTpParameters(extra={"stmin": 0x10, "wftmax": 2}).to_isotp()

    assert params["stmin"] == 0x10
    assert params["wftmax"] == 2


@pytest.mark.parametrize(
    "parameters",
    [
        IsoTpParameters(),
        IsoTpParameters(padding=None),
        IsoTpParameters(padding=0x00, block_size=4, st_min_s=0.0005),
        IsoTpParameters(fd=True),
        IsoTpParameters(fd=True, bitrate_switch=True, padding=None),
    ],
)
def test_can_isotp_accepts_the_converted_parameters(parameters: IsoTpParameters) -> None:
    layer = isotp.TransportLayerLogic(
        rxfn=lambda timeout: None,
        txfn=lambda msg: None,
        address=isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7E8, rxid=0x7E0),
        params=parameters.to_isotp(),
    )
    assert layer.params.tx_padding == parameters.padding


@pytest.mark.parametrize(
    ("fd", "extended", "capacity"),
    [
        (False, False, 7),  # classic CAN: 8 bytes - 1 PCI byte
        (False, True, 6),  # classic CAN, extended addressing: - 1 N_TA byte
        (True, False, 62),  # CAN-FD: 64 bytes - 2 PCI bytes (escape sequence)
        (True, True, 61),  # CAN-FD, extended addressing
    ],
)
def test_single_frame_capacity(fd: bool, extended: bool, capacity: int) -> None:
    """ISO 15765-2 Table 10 (SF_DL limits)."""
    assert IsoTpParameters(fd=fd).single_frame_capacity(extended) == capacity


def test_parameters_are_frozen() -> None:
    params = IsoTpParameters()
    with pytest.raises(AttributeError):
        params.padding = 0x00  # type: ignore[misc]


def _frame(can_id: int, *data: int) -> can.Message:
    return can.Message(arbitration_id=can_id, data=bytes(data), is_extended_id=False)


@pytest.mark.parametrize("extended_address", [None, 0x57])
def test_addressed_stack_drops_foreign_frames_on_the_notifier_thread(
    extended_address: int | None,
) -> None:
    """Frames for other IDs (or other sub-addresses) never reach the stack's queue, so they do
    not wake its threads; can-isotp must still register the overridden listener method."""
    channel = f"filter-{uuid.uuid4().hex}"
    node_bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(node_bus, [], timeout=0.05)
    addressing = IsoTpAddressing(0x750, 0x758, extended_address=extended_address)
    stack = AddressedCanStack(
        node_bus,
        notifier,
        rx_id=0x750,
        extended_address=extended_address,
        address=addressing.physical(),
    )
    # What NotifierBasedCanStack.start() does, without its threads draining the reader:
    stack.buffered_reader = can.BufferedReader()
    notifier.add_listener(stack._on_message_received)
    sender = can.Bus(interface="virtual", channel=channel)
    try:
        prefix = () if extended_address is None else (extended_address,)
        sender.send(_frame(0x7E0, 0x02, 0x3E, 0x00))  # another node's ID: TesterPresent SF
        sender.send(_frame(0x750, 0xB5, 0x02, 0x3E, 0x00))  # same ID, sub-address 0xB5
        sender.send(_frame(0x750, *prefix, 0x02, 0x3E, 0x00))  # ours: [ext] SF len 2, 3E 00
        received = stack.buffered_reader.get_message(timeout=2.0)
        assert received is not None
        expected = bytes([*prefix, 0x02, 0x3E, 0x00])
        if extended_address is None:
            # normal addressing keeps the 0xB5 frame: its first byte is data, not an address
            assert bytes(received.data) == bytes([0xB5, 0x02, 0x3E, 0x00])
            received = stack.buffered_reader.get_message(timeout=2.0)
            assert received is not None
        assert bytes(received.data) == expected
        assert stack.buffered_reader.get_message(timeout=0.05) is None
    finally:
        notifier.stop()
        sender.shutdown()
        node_bus.shutdown()


def test_can_isotp_registers_the_overridden_listener() -> None:
    channel = f"filter-{uuid.uuid4().hex}"
    bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(bus, [], timeout=0.05)
    addressing = IsoTpAddressing(0x7E0, 0x7E8)
    stack = AddressedCanStack(
        bus, notifier, rx_id=0x7E0, extended_address=None, address=addressing.physical()
    )
    try:
        stack.start()
        assert stack._on_message_received in notifier.listeners
    finally:
        stack.stop()
        notifier.stop()
        bus.shutdown()
