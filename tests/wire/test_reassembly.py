"""The passive ISO-TP reassembler (ISO 15765-2:2016 §9.6), frame by frame."""

from __future__ import annotations

from ecusim.wire.reassembly import Payload, Reassembler

KEY: bytes = bytes(range(0xA0, 0xB0))
"""A 16-byte Pass-Code for the multi-frame sendKey below."""


def test_a_single_frame_is_one_payload() -> None:
    frame = bytes(
        [
            0x02,  # PCI: single frame, 2 bytes
            0x10,  # DiagnosticSessionControl
            0x03,  # extendedDiagnosticSession
            0xCC, 0xCC, 0xCC, 0xCC, 0xCC,  # padding
        ]
    )  # fmt: skip
    assert Reassembler().feed(frame, 1.5) == Payload(1.5, 1.5, bytes([0x10, 0x03]))


def test_first_and_consecutive_frames_make_one_payload_timed_from_first_to_last() -> None:
    assembler = Reassembler()
    first = bytes(
        [
            0x10,  # PCI: first frame, length high nibble 0
            0x12,  # length low byte: 18 bytes
            0x27,  # SecurityAccess
            0x12,  # sendKey of level 0x11
            *KEY[:4],  # the Pass-Code's first 4 bytes
        ]
    )
    flow_control = bytes(
        [
            0x30,  # PCI: flow control, continue to send (the ECU's, not ours to answer)
            0x00,  # block size 0: no more flow control
            0x00,  # STmin 0 ms
            0xCC, 0xCC, 0xCC, 0xCC, 0xCC,  # padding
        ]
    )  # fmt: skip
    second = bytes([0x21, *KEY[4:11]])  # PCI: consecutive frame 1; 7 more bytes
    third = bytes(
        [
            0x22,  # PCI: consecutive frame 2
            *KEY[11:],  # the last 5 bytes
            0xCC, 0xCC,  # padding
        ]
    )  # fmt: skip
    assert assembler.feed(first, 10.0) is None
    assert assembler.feed(flow_control, 10.001) is None
    assert assembler.feed(second, 10.002) is None
    assert assembler.feed(third, 10.003) == Payload(10.0, 10.003, bytes([0x27, 0x12]) + KEY)
    assert assembler.notes == []


def test_a_consecutive_frame_out_of_sequence_drops_the_message() -> None:
    assembler = Reassembler()
    first = bytes(
        [
            0x10,  # PCI: first frame
            0x0A,  # 10 bytes
            0x62, 0xF1, 0x90,  # ReadDataByIdentifier positive response, DID 0xF190
            0x4A, 0x54, 0x48,  # "JTH"
        ]
    )  # fmt: skip
    skipped = bytes(
        [
            0x22,  # PCI: consecutive frame 2, but 1 was expected
            0x4C, 0x53, 0x4C, 0x31,  # "LSL1"
            0xCC, 0xCC, 0xCC,  # padding
        ]
    )  # fmt: skip
    assert assembler.feed(first, 1.0) is None
    assert assembler.feed(skipped, 1.1) is None
    assert assembler.notes == ["sequence number 2, expected 1"]
    assert assembler.feed(bytes([0x21, 0, 0, 0, 0, 0, 0, 0]), 1.2) is None  # nothing to continue
    assert "without a first frame" in assembler.notes[-1]


def test_a_can_fd_single_frame_carries_its_length_in_the_second_byte() -> None:
    payload = bytes([0x62, 0x01, 0x0C]) + bytes(8)  # 0x010C with two levels' records
    frame = bytes(
        [
            0x00,  # PCI: single frame, length escape (CAN FD, §9.6.2.1)
            len(payload),  # SF_DL: 11 bytes
            *payload,
            *bytes(16 - 2 - len(payload)),  # padding up to a 16-byte FD frame
        ]
    )
    assert Reassembler().feed(frame, 2.0) == Payload(2.0, 2.0, payload)
