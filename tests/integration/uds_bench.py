"""Helpers of the integration tests (the fixtures in ``conftest.py`` build on them).

:class:`Bench` is the vehicle side: one :class:`~protocol.can_bus.BusConnection` (one bus, one
Notifier) on the test's virtual channel, serving any number of ECUs as in a car.
:class:`ScanTool` is the tester side: another bus instance on the channel with its own
Notifier, a recorder of every frame the vehicle side sends, raw sends and udsoncan clients over
can-isotp ``NotifierBasedCanStack``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

import can
import isotp
import pytest
import udsoncan
from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException
from udsoncan.typing import ClientConfig

from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.engine import DEFAULT_VIN
from ecusim.ecus.identification import serial_number_for
from ecusim.tool import contract
from protocol.can_bus import BusConnection
from protocol.clock import MonotonicClock
from protocol.isotp_binding import UdsIsoTpBinding

REQUEST_TIMEOUT_S = 3.0
"""udsoncan's overall request timeout: generous, a healthy node answers in about a millisecond."""

FRAME_TIMEOUT_S = 2.0
"""How long a test waits for one raw CAN frame that must come."""

ENGINE_SERIAL = serial_number_for("ENG", DEFAULT_VIN)
ENGINE_PART_NUMBER = "89661-LAB01"
ENGINE_SYSTEM_NAME = "ENGINE"

DID_ACTIVE_SESSION = 0xF186
DID_PART_NUMBER = 0xF187
DID_SERIAL_NUMBER = 0xF18C
DID_VIN = 0xF190
DID_SYSTEM_NAME = 0xF197

EXTENDED_SESSION = 0x03
"""diagnosticSessionType extendedDiagnosticSession."""
HARD_RESET = 0x01
"""ECUReset resetType hardReset."""

ENGINE_CLIENT_ADDRESS = isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7E0, rxid=0x7E8)
"""The tester's view of the engine: requests on 0x7E0, responses on 0x7E8
(diagnostic-contract.md §1)."""

CLIENT_ISOTP_PARAMS: dict[str, Any] = dict(contract.CLIENT_ISOTP_PARAMS)
"""The tester pads its own frames too (a real scan tool does)."""


def nrc_of(call: Callable[..., Any], *args: Any) -> int:
    """Run a udsoncan client call that must fail with a negative response; return its NRC."""
    with pytest.raises(NegativeResponseException) as info:
        call(*args)
    code = info.value.response.code
    assert code is not None
    return int(code)


def engine_did_codecs() -> dict[int, Any]:
    """udsoncan ``data_identifiers`` codecs of the engine's identification DIDs: the contract's,
    with the engine's text values at their known lengths (so several fit in one request)."""
    codecs = contract.did_codecs()
    return {
        DID_VIN: codecs[DID_VIN],
        DID_SERIAL_NUMBER: udsoncan.AsciiCodec(len(ENGINE_SERIAL)),
        DID_PART_NUMBER: udsoncan.AsciiCodec(len(ENGINE_PART_NUMBER)),
        DID_SYSTEM_NAME: udsoncan.AsciiCodec(len(ENGINE_SYSTEM_NAME)),
        DID_ACTIVE_SESSION: codecs[DID_ACTIVE_SESSION],
    }


def client_config(**overrides: Any) -> ClientConfig:
    """The contract's client configuration for the engine with the tests' timeouts; the
    contract's ``use_server_timing=False`` stands (the engine's P2server is 50 ms: udsoncan would
    apply it to whole multi-frame replies), tests that check the parsed timing turn it back on;
    ``overrides`` replace single keys."""
    settings: dict[str, Any] = {
        "data_identifiers": engine_did_codecs(),
        **dict.fromkeys(("request_timeout", "p2_timeout", "p2_star_timeout"), REQUEST_TIMEOUT_S),
    }
    return contract.client_config(**{**settings, **overrides})


class ClientFactory(Protocol):
    """The ``uds_client`` fixture: :meth:`ScanTool.client`."""

    def __call__(
        self,
        address: isotp.Address = ...,
        *,
        params: dict[str, Any] | None = None,
        config: ClientConfig | None = None,
    ) -> Client: ...


class Bench:
    """The vehicle side of one test: one bus, one Notifier, any number of served ECUs."""

    def __init__(self, channel: str, *, fd: bool = False) -> None:
        protocol = can.CanProtocol.CAN_FD if fd else can.CanProtocol.CAN_20
        self.channel = channel
        self.clock = MonotonicClock()
        self.connection = BusConnection(
            can.Bus(interface="virtual", channel=channel, protocol=protocol)
        )
        self._bindings: list[UdsIsoTpBinding] = []

    def serve(self, ecu: DiagnosableEcu) -> UdsIsoTpBinding:
        binding = ecu.binding(self.connection.tx_bus, self.connection.notifier, self.clock)
        binding.start()
        self._bindings.append(binding)
        return binding

    def close(self) -> None:
        # Each binding's stop() waits up to one receive timeout: stop them side by side.
        stoppers = [threading.Thread(target=binding.stop) for binding in self._bindings]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        self._bindings.clear()
        self.connection.close()


class ScanTool:
    """The tester side: its own bus instance and Notifier on the channel.

    ``frames`` receives every frame the vehicle side sends (a virtual bus never hears itself, so
    the tester's own requests are not in it).
    """

    def __init__(self, channel: str, *, fd: bool = False) -> None:
        protocol = can.CanProtocol.CAN_FD if fd else can.CanProtocol.CAN_20
        self.bus = can.Bus(interface="virtual", channel=channel, protocol=protocol)
        self.frames: queue.Queue[can.Message] = queue.Queue()
        self.notifier = can.Notifier(self.bus, [self.frames.put], timeout=0.1)
        self._clients: list[Client] = []

    def client(
        self,
        address: isotp.Address = ENGINE_CLIENT_ADDRESS,
        *,
        params: dict[str, Any] | None = None,
        config: ClientConfig | None = None,
    ) -> Client:
        """An opened udsoncan client over a can-isotp ``NotifierBasedCanStack`` on this bus."""
        client = contract.open_client(
            self.bus,
            self.notifier,
            address,
            params=params,
            config=config if config is not None else client_config(),
        )
        self._clients.append(client)
        return client

    def send(self, arbitration_id: int, data: bytes, *, fd: bool = False) -> None:
        """Send one raw frame (the caller gives every byte, padding included)."""
        self.bus.send(
            can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False, is_fd=fd)
        )

    def next_frame(
        self, arbitration_id: int | None = None, timeout: float = FRAME_TIMEOUT_S
    ) -> can.Message | None:
        """The next frame the vehicle side sent (on ``arbitration_id`` if given), or ``None``
        when none came within ``timeout``. Frames on other IDs are skipped."""
        while True:
            try:
                frame = self.frames.get(timeout=timeout)
            except queue.Empty:
                return None
            if arbitration_id is None or frame.arbitration_id == arbitration_id:
                return frame

    def drain(self) -> list[can.Message]:
        """Every frame received so far, removed from the queue."""
        out: list[can.Message] = []
        while True:
            try:
                out.append(self.frames.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        self.notifier.stop()
        self.bus.shutdown()
