"""A car's fault plan and request record (Vehicle.faults, Vehicle.requests) seen by udsoncan.

An LS430 2004 (transponder key ECU "immobilizer": 0x750 → 0x758, extended addressing 0x57) runs
on a python-can ``virtual`` channel unique to the test; udsoncan talks to it over can-isotp, and
a third bus on the channel keeps every frame for the trace checks.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import can
import pytest
from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException, TimeoutException

from ecusim.car.vehicle import Vehicle
from ecusim.tool.contract import client_config, open_client
from protocol.isotp_binding import IsoTpAddressing
from protocol.uds.faults import RecordedRequest

VIN = "JTHBL5EF0C5000001"
IMMOBILIZER_REQUEST_ID = 0x750
IMMOBILIZER_RESPONSE_ID = 0x758
SUB_ADDRESS = 0x57
CLIENT_TIMEOUT_S = 5.0
"""udsoncan's timeouts for an answer that must come. The car answers within milliseconds, so
this bounds only a missing answer and never lengthens a passing test. It was once 0.3 s for every
request, which the loaded 2-core CI machine can exceed when it starves the car's threads."""
SHORT_TIMEOUT_S = 0.3
"""udsoncan's timeouts where a test expects one (:meth:`Bench.expecting_a_timeout`)."""
LATE_DELAY_S = 1.0
"""A delay that must outlast SHORT_TIMEOUT_S: the 0.7 s margin covers a starved client thread
that wakes late and would otherwise find the delayed answer already there."""
TIMEOUT_KEYS = ("request_timeout", "p2_timeout", "p2_star_timeout")
RECORD_TIMEOUT_S = 5.0
DID_ACTIVE_SESSION = 0xF186
DID_VIN = 0xF190


@dataclass
class Bench:
    car: Vehicle
    client: Client
    trace: can.BusABC
    """Another bus on the channel: every frame the car sends queues up here."""

    def frames_from_immobilizer(self) -> list[bytes]:
        frames = []
        while (message := self.trace.recv(timeout=0)) is not None:
            if message.arbitration_id == IMMOBILIZER_RESPONSE_ID:
                frames.append(bytes(message.data))
        return frames

    def answered(self, sid: int) -> RecordedRequest:
        """The first recorded ``sid`` request once its final response went out."""
        return self.car.requests.wait_for(
            lambda r: r.sid == sid and r.response is not None, timeout=RECORD_TIMEOUT_S
        )

    def active_session(self) -> int:
        return int(self.client.read_data_by_identifier_first(DID_ACTIVE_SESSION))

    @contextmanager
    def expecting_a_timeout(self) -> Iterator[None]:
        """udsoncan's timeouts cut to SHORT_TIMEOUT_S for a request that must time out."""
        for key in TIMEOUT_KEYS:
            self.client.set_config(key, SHORT_TIMEOUT_S)
        try:
            yield
        finally:
            for key in TIMEOUT_KEYS:
                self.client.set_config(key, CLIENT_TIMEOUT_S)


@pytest.fixture
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    readable = re.sub(r"[^A-Za-z0-9]+", "-", request.node.nodeid)[-50:]
    channel = f"vehicle-faults-{readable}-{uuid.uuid4().hex[:8]}"
    car = Vehicle.from_catalog("LS430", 2004, VIN, time_scale=20.0, seed=7)
    car_bus = can.Bus(interface="virtual", channel=channel)
    tester_bus = can.Bus(interface="virtual", channel=channel)
    trace = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(tester_bus, [], timeout=0.05)
    immobilizer = IsoTpAddressing(
        IMMOBILIZER_REQUEST_ID, IMMOBILIZER_RESPONSE_ID, extended_address=SUB_ADDRESS
    )
    try:
        with car.running(car_bus):
            client = open_client(
                tester_bus,
                notifier,
                immobilizer,
                config=client_config(**dict.fromkeys(TIMEOUT_KEYS, CLIENT_TIMEOUT_S)),
            )
            try:
                yield Bench(car, client, trace)
            finally:
                client.close()
    finally:
        notifier.stop()
        for bus in (tester_bus, trace, car_bus):
            bus.shutdown()


def test_a_delay_beyond_the_client_timeout_times_out(bench: Bench) -> None:
    bench.car.faults.delay(LATE_DELAY_S, sid=0x22, times=1)
    with bench.expecting_a_timeout(), pytest.raises(TimeoutException):
        bench.client.read_data_by_identifier_first(DID_VIN)
    # The late answer comes all the same; it is in the record with its fault.
    late = bench.client.conn.wait_frame(timeout=RECORD_TIMEOUT_S, exception=True)
    assert late == bytes([0x62, 0xF1, 0x90]) + VIN.encode("ascii")
    assert bench.answered(0x22).fault == f"delay {LATE_DELAY_S:g} s"


def test_a_delay_below_the_client_timeout_succeeds(bench: Bench) -> None:
    bench.car.faults.delay(SHORT_TIMEOUT_S / 3, sid=0x22)
    assert bench.client.read_data_by_identifier_first(DID_VIN) == VIN
    assert bench.answered(0x22).fault == f"delay {SHORT_TIMEOUT_S / 3:g} s"


def test_a_dropped_response_times_out_but_the_car_acted(bench: Bench) -> None:
    bench.car.faults.drop(sid=0x10, ecu="immobilizer", times=1)
    with bench.expecting_a_timeout(), pytest.raises(TimeoutException):
        bench.client.change_session(0x03)
    assert bench.active_session() == 0x03  # extended: the request was processed
    record = bench.car.requests.for_ecu("immobilizer")[0]
    assert (record.sid, record.fault, record.response) == (0x10, "drop response", None)


def test_a_forced_nrc_is_reported_and_the_car_did_not_act(bench: Bench) -> None:
    bench.car.faults.force_nrc(0x22, sid=0x10, ecu="immobilizer")
    with pytest.raises(NegativeResponseException) as info:
        bench.client.change_session(0x03)
    assert info.value.response.code == 0x22  # conditionsNotCorrect, as forced
    assert bench.active_session() == 0x01  # still the default session


def test_a_rule_for_another_ecu_does_not_touch_this_one(bench: Bench) -> None:
    assert {ecu.name for ecu in bench.car.ecus} == {"immobilizer", "engine"}
    bench.car.faults.force_nrc(0x22, sid=0x10, ecu="engine")
    bench.client.change_session(0x03)
    assert bench.active_session() == 0x03


def test_three_extra_0x78_then_udsoncan_gets_the_positive_response(bench: Bench) -> None:
    bench.car.faults.extra_pending(3, sid=0x22, interval_s=0.02, times=1)
    # udsoncan waits P2* (CLIENT_TIMEOUT_S) after each 0x78.
    assert bench.client.read_data_by_identifier_first(DID_VIN) == VIN
    record = bench.answered(0x22)
    pending = bytes([0x7F, 0x22, 0x78])  # negative response, RDBI, responsePending
    assert record.responses[:3] == (pending, pending, pending)
    assert record.response is not None and record.response[:3] == bytes([0x62, 0xF1, 0x90])
    frames = bench.frames_from_immobilizer()
    on_the_bus = bytes(
        [
            SUB_ADDRESS,  # N_TA: the immobilizer's sub-address, echoed
            0x03,  # PCI: single frame, 3 bytes
            0x7F,  # negative response
            0x22,  # ReadDataByIdentifier
            0x78,  # NRC requestCorrectlyReceived-ResponsePending
            0xCC, 0xCC, 0xCC,  # padding
        ]
    )  # fmt: skip
    assert frames[:3] == [on_the_bus] * 3
    assert frames[3][:6] == bytes(
        [
            SUB_ADDRESS,  # N_TA
            0x10, 0x14,  # PCI: first frame, 20 bytes
            0x62,  # ReadDataByIdentifier positive response
            0xF1, 0x90,  # DID 0xF190 (VIN)
        ]
    )  # fmt: skip


def test_the_record_lists_requests_in_order_with_their_responses(bench: Bench) -> None:
    client = bench.client
    assert client.read_data_by_identifier_first(DID_VIN) == VIN
    client.change_session(0x03)
    client.tester_present()
    bench.answered(0x3E)
    records = bench.car.requests.all()
    assert [record.sid for record in records] == [0x22, 0x10, 0x3E]
    assert bench.car.requests.sids("immobilizer") == [0x22, 0x10, 0x3E]
    assert all(record.ecu == "immobilizer" and record.fault is None for record in records)
    assert [record.addressing.value for record in records] == ["physical"] * 3
    vin_read, session, tester_present = records
    assert vin_read.response == bytes([0x62, 0xF1, 0x90]) + VIN.encode("ascii")
    assert session.response == bytes([0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])
    assert tester_present.response == bytes([0x7E, 0x00])
    assert vin_read.time <= session.time <= tester_present.time
