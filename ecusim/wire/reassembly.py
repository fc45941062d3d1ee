"""A passive ISO-TP reassembler (ISO 15765-2:2016 §9.6): one direction of one address, listen-only.

It never sends flow control: the receiver on the bus does that. Flow control frames are skipped,
a consecutive frame out of sequence drops the message (§9.8.3), a new first or single frame
replaces a message in progress (§9.8.3: "new start of reception").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SINGLE_FRAME: Final = 0
FIRST_FRAME: Final = 1
CONSECUTIVE_FRAME: Final = 2
FLOW_CONTROL: Final = 3
"""N_PCI types, the high nibble of the first PCI byte (§9.6.1 Table 9)."""
CLASSIC_FRAME_BYTES: Final = 8


@dataclass(frozen=True)
class Payload:
    """One reassembled N_SDU: ``start`` is the time of its single or first frame, ``end`` the
    time of its last frame (seconds, the messages' timestamps)."""

    start: float
    end: float
    data: bytes


class Reassembler:
    """Reassembles the frames of one CAN ID (and sub-address): feed each frame's data after
    the extended-address byte, if any."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._expected = 0
        self._next_sequence = 0
        self._start = 0.0
        self.notes: list[str] = []
        """Frames that broke the protocol (a wrong sequence number, a stray CF)."""

    def feed(self, data: bytes, time: float) -> Payload | None:
        """The whole payload when ``data`` completes one, else ``None``."""
        if not data:
            return None
        kind = data[0] >> 4
        if kind == SINGLE_FRAME:
            return self._single(data, time)
        if kind == FIRST_FRAME:
            self._first(data, time)
            return None
        if kind == CONSECUTIVE_FRAME:
            return self._consecutive(data, time)
        return None  # flow control (§9.6.5) or a reserved type: nothing to reassemble

    def _single(self, data: bytes, time: float) -> Payload | None:
        self._expected = 0
        length = data[0] & 0x0F
        offset = 1
        if length == 0 and len(data) > CLASSIC_FRAME_BYTES:  # CAN FD escape (§9.6.2.1)
            length, offset = data[1], 2
        if length == 0 or offset + length > len(data):
            self.notes.append(f"single frame with a bad length: {data.hex(' ')}")
            return None
        return Payload(time, time, bytes(data[offset : offset + length]))

    def _first(self, data: bytes, time: float) -> None:
        length = ((data[0] & 0x0F) << 8) | (data[1] if len(data) > 1 else 0)
        offset = 2
        if length == 0 and len(data) >= 6:  # FF_DL > 4095 in 4 more bytes (§9.6.3.1)
            length, offset = int.from_bytes(data[2:6], "big"), 6
        self._buffer = bytearray(data[offset:])
        self._expected = length
        self._next_sequence = 1
        self._start = time

    def _consecutive(self, data: bytes, time: float) -> Payload | None:
        if self._expected == 0:
            self.notes.append(f"consecutive frame without a first frame: {data.hex(' ')}")
            return None
        sequence = data[0] & 0x0F
        if sequence != self._next_sequence:
            self.notes.append(f"sequence number {sequence}, expected {self._next_sequence}")
            self._expected = 0
            return None
        self._next_sequence = (sequence + 1) & 0x0F
        self._buffer += data[1:]
        if len(self._buffer) < self._expected:
            return None
        payload = Payload(self._start, time, bytes(self._buffer[: self._expected]))
        self._expected = 0
        return payload
