"""The plugin's fixtures used directly: the car (default and chosen by marker), the udsoncan
clients, the portal, and each kind of fault through ``car_faults`` / ``car_requests``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import isotp
import pytest
from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException, TimeoutException

from ecusim.car.physical import Ignition
from ecusim.catalog.vin import lab_vin
from ecusim.portal.client import PortalClient
from ecusim.testing import CarSpec, VirtualCar
from ecusim.testing.portal import TOOL_VERSION, VirtualPortal
from ecusim.testing.pytest_plugin import channel_name
from protocol.constants import Addressing
from protocol.passcode import format_code, pass_code
from protocol.uds.faults import FaultPlan, RequestLog

TRANSPONDER_VIN: Final = "JTHBL5EF0C5000001"
CLIENT_TIMEOUT_S: Final = 0.3
"""udsoncan's timeout where a test expects one (:func:`_expecting_a_timeout`); every other
request keeps the plugin client's own 5 s, which bounds only a missing answer."""
LATE_DELAY_S: Final = 1.0
"""A delay that must outlast CLIENT_TIMEOUT_S: the 0.7 s margin covers a starved client thread
that wakes late and would otherwise find the delayed answer already there."""
RECORD_TIMEOUT_S: Final = 5.0


def _address(address: isotp.Address) -> tuple[int, int, int | None]:
    """(request ID, response ID, extended address byte or None) of a tester's address."""
    extension = address.get_tx_payload_prefix()
    return (
        address.get_tx_arbitration_id(),
        address.get_rx_arbitration_id(),
        extension[0] if extension else None,
    )


# -- virtual_car ------------------------------------------------------------------------------


def test_the_default_car_is_an_ls460_2012_with_smart_keys(
    virtual_car: VirtualCar, uds_client: Client, request: pytest.FixtureRequest
) -> None:
    assert virtual_car.vehicle.model_year.name == "LS460 2012"
    assert virtual_car.vin == lab_vin("LS460", 2012)
    assert virtual_car.vehicle.is_running
    assert virtual_car.channel.startswith("ecusim-")
    assert virtual_car.channel.endswith("smart-keys")  # the test's name, readable
    assert virtual_car.key_ecu.name == "certification"
    assert _address(virtual_car.isotp_address()) == (0x750, 0x758, 0xB5)
    assert _address(virtual_car.isotp_address("engine")) == (0x7E0, 0x7E8, None)
    assert virtual_car.isotp_params()["tx_padding"] == 0xCC
    assert uds_client.read_data_by_identifier_first(0xF190) == virtual_car.vin
    assert uds_client.read_data_by_identifier_first(0xF197) == "SMART KEY"
    assert uds_client.read_data_by_identifier_first(0x010A) == (3, 1)  # smart key, reset
    assert uds_client.read_data_by_identifier_first(0x010D) == 2  # two smart keys
    assert uds_client.read_data_by_identifier_first(0x0108) == (2, 0)  # blinking: set
    assert uds_client.read_data_by_identifier_first(0x010B) == 0  # no waiting period
    assert uds_client.read_data_by_identifier_first(0x010C) == (
        (0x01, 0, 0),  # level 0x01: no failed attempt, no delay
        (0x11, 0, 0),  # level 0x11: no failed attempt, no delay
    )


@pytest.mark.ecusim_car(model="LS430", year=2004, vin=TRANSPONDER_VIN, time_scale=10.0, seed=3)
def test_the_marker_chooses_the_car(virtual_car: VirtualCar, uds_client: Client) -> None:
    assert virtual_car.vehicle.model_year.name == "LS430 2004"
    assert virtual_car.vin == TRANSPONDER_VIN
    assert virtual_car.key_ecu.name == "immobilizer"
    assert _address(virtual_car.isotp_address()) == (0x750, 0x758, 0x57)
    assert uds_client.read_data_by_identifier_first(0xF190) == TRANSPONDER_VIN
    assert uds_client.read_data_by_identifier_first(0x010A) == (2, 1)  # transponder, reset
    assert uds_client.read_data_by_identifier([0x0106, 0x0107]).service_data.values == {
        0x0106: 2,  # master keys
        0x0107: 1,  # sub key
    }


@pytest.mark.ecusim_car(model="ES300", year=2002)
def test_on_an_ecm_integrated_car_the_key_ecu_is_the_ecm(
    virtual_car: VirtualCar, uds_client: Client, engine_client: Client
) -> None:
    assert virtual_car.key_ecu.name == "engine"
    assert uds_client is engine_client  # one node: one client
    assert _address(virtual_car.isotp_address()) == (0x7E0, 0x7E8, None)
    assert uds_client.read_data_by_identifier_first(0x010A) == (1, 0)  # no scan-tool reset


def test_engine_client_talks_to_the_ecm(uds_client: Client, engine_client: Client) -> None:
    assert engine_client is not uds_client
    assert engine_client.read_data_by_identifier_first(0xF197) == "ENGINE"
    assert uds_client.read_data_by_identifier_first(0xF197) == "SMART KEY"


def test_a_raw_isotp_stack_on_the_tester_bus(virtual_car: VirtualCar) -> None:
    stack = virtual_car.stack()
    stack.start()
    try:
        stack.send(bytes([0x22, 0xF1, 0x90]))  # ReadDataByIdentifier, DID 0xF190 (VIN)
        answer = stack.recv(block=True, timeout=RECORD_TIMEOUT_S)
    finally:
        stack.stop()
    assert answer is not None
    assert bytes(answer) == bytes([0x62, 0xF1, 0x90]) + virtual_car.vin.encode("ascii")


@pytest.mark.parametrize("model_year", [("LS460", 2012), ("LS430", 2004)], ids=["smart", "key"])
def test_ready_for_reset_sets_the_bulletins_conditions(model_year: tuple[str, int]) -> None:
    car = VirtualCar.start(channel_name("ready-for-reset"), CarSpec(*model_year))
    try:
        car.vehicle.set_speed(30.0)
        key = car.ready_for_reset()
        assert key in car.vehicle.factory_keys
        assert car.ready_for_reset() == key  # again: nothing changes
        physical = car.vehicle.physical
        assert physical.ignition is Ignition.ON
        assert physical.speed_kmh == 0.0
        assert physical.inserted_key == key or key in physical.carried
    finally:
        car.close()


def test_close_stops_the_car_and_shuts_the_buses_down() -> None:
    car = VirtualCar.start(channel_name("close"))
    car.client()
    started = time.monotonic()
    car.close()
    assert time.monotonic() - started < 5.0
    assert not car.vehicle.is_running


def test_the_lab_level_unlocks_and_the_reset_level_needs_the_portal(uds_client: Client) -> None:
    uds_client.change_session(0x03)
    assert uds_client.unlock_security_access(0x01).positive  # lab diagnostic key
    with pytest.raises(ValueError, match="portal"):
        uds_client.unlock_security_access(0x11)


# -- portal -----------------------------------------------------------------------------------


def test_the_portal_approves_once_and_issues_pass_codes(portal: VirtualPortal) -> None:
    assert portal._server is None  # the HTTP API is not started unless asked for
    approval = portal.approve(TRANSPONDER_VIN)
    assert approval.status == "approved"
    assert approval.technician_username == portal.dealer.technician.username
    assert approval.approved_by in {manager.name for manager in portal.dealer.managers}
    assert portal.approve(TRANSPONDER_VIN).number == approval.number  # the approval is reused
    seed = bytes(range(16))
    expected = bytes.fromhex("68048306E57DF5FB1D818A1B527791CD")  # diagnostic-contract.md §5
    assert portal.pass_code(TRANSPONDER_VIN, seed) == expected
    assert portal.pass_code(TRANSPONDER_VIN, format_code(seed)) == expected
    assert portal.pass_code("JTHBA1D29G5000002", seed) == pass_code("JTHBA1D29G5000002", seed)
    assert TOOL_VERSION == "9.10.037"


def test_the_portal_serves_its_api_from_first_use(portal: VirtualPortal) -> None:
    url = portal.url
    assert url.startswith("http://127.0.0.1:")
    assert portal.url == url  # started once
    with PortalClient(url) as client:
        assert client.health()
        client.login(portal.dealer.technician.username, portal.password)
        assert client.find_approval(TRANSPONDER_VIN) is None
        portal.approve(TRANSPONDER_VIN)
        found = client.find_approval(TRANSPONDER_VIN)
        assert found is not None and found.vin == TRANSPONDER_VIN


def test_closing_the_portal_stops_its_api(tmp_path: Path) -> None:
    desk = VirtualPortal(tmp_path / "portal.db")
    url = desk.url
    server = desk._server
    desk.close()
    assert server is not None and not server.running
    with PortalClient(url, timeout_s=1.0) as client, pytest.raises(Exception):  # noqa: B017
        client.health()


# -- car_faults and car_requests --------------------------------------------------------------


def test_the_shortcuts_are_the_cars_own(
    virtual_car: VirtualCar, car_faults: FaultPlan, car_requests: RequestLog
) -> None:
    assert car_faults is virtual_car.faults is virtual_car.vehicle.faults
    assert car_requests is virtual_car.requests is virtual_car.vehicle.requests


@contextmanager
def _expecting_a_timeout(client: Client) -> Iterator[None]:
    """udsoncan's request timeout cut to CLIENT_TIMEOUT_S for a request that must time out, the
    client's own put back after it (a 0.3 s bound on an answer that must come can be exceeded on
    a loaded 2-core CI machine)."""
    own = client.config["request_timeout"]
    client.set_config("request_timeout", CLIENT_TIMEOUT_S)
    try:
        yield
    finally:
        client.set_config("request_timeout", own)


def test_delay(
    virtual_car: VirtualCar, uds_client: Client, car_faults: FaultPlan, car_requests: RequestLog
) -> None:
    car_faults.delay(LATE_DELAY_S, sid=0x22, times=1)
    with _expecting_a_timeout(uds_client), pytest.raises(TimeoutException):
        uds_client.read_data_by_identifier_first(0xF190)
    # The late answer comes all the same: take it, so it cannot meet the next request.
    late = uds_client.conn.wait_frame(timeout=RECORD_TIMEOUT_S, exception=True)
    assert late == bytes([0x62, 0xF1, 0x90]) + virtual_car.vin.encode("ascii")
    assert car_requests.all()[0].fault == "delay 1 s"
    car_faults.delay(CLIENT_TIMEOUT_S / 3, sid=0x22, times=1)
    assert uds_client.read_data_by_identifier_first(0x010D) == 2  # in time


def test_drop(uds_client: Client, car_faults: FaultPlan, car_requests: RequestLog) -> None:
    car_faults.drop(sid=0x10, ecu="certification", times=1)
    with _expecting_a_timeout(uds_client), pytest.raises(TimeoutException):
        uds_client.change_session(0x03)
    assert uds_client.read_data_by_identifier_first(0xF186) == 0x03  # the car acted
    assert car_requests.all()[0].fault == "drop response"


def test_force_nrc(uds_client: Client, car_faults: FaultPlan) -> None:
    car_faults.force_nrc(0x22, sid=0x10, times=1)
    with pytest.raises(NegativeResponseException) as info:
        uds_client.change_session(0x03)
    assert info.value.response.code == 0x22
    assert uds_client.read_data_by_identifier_first(0xF186) == 0x01  # the car did not act


def test_extra_pending(uds_client: Client, car_faults: FaultPlan, car_requests: RequestLog) -> None:
    car_faults.extra_pending(3, sid=0x22, times=1)
    assert uds_client.read_data_by_identifier_first(0x010D) == 2
    record = car_requests.wait_for(lambda r: r.response is not None, timeout=RECORD_TIMEOUT_S)
    assert record.responses == (
        bytes([0x7F, 0x22, 0x78]),  # negative response, RDBI, response pending
        bytes([0x7F, 0x22, 0x78]),
        bytes([0x7F, 0x22, 0x78]),
        bytes([0x62, 0x01, 0x0D, 0x02]),  # RDBI positive response, DID 0x010D, 2 keys
    )


def test_the_record_lists_requests_and_faults(
    virtual_car: VirtualCar,
    uds_client: Client,
    engine_client: Client,
    car_faults: FaultPlan,
    car_requests: RequestLog,
) -> None:
    car_faults.extra_pending(1, sid=0x3E, ecu="engine")
    uds_client.tester_present()
    engine_client.tester_present()
    car_requests.wait_for(lambda r: r.ecu == "engine" and r.response is not None)
    key_ecu, engine = car_requests.all()
    assert (key_ecu.ecu, key_ecu.fault, key_ecu.response) == ("certification", None, b"\x7e\x00")
    assert (engine.ecu, engine.fault, engine.response) == ("engine", "1 extra 0x78", b"\x7e\x00")
    assert engine.addressing is Addressing.PHYSICAL
    assert car_requests.sids() == [0x3E, 0x3E]
    assert car_requests.for_ecu(virtual_car.key_ecu.name) == (key_ecu,)


def _stored_costs(portal: VirtualPortal) -> set[int]:
    """The scrypt N of every stored hash (``scrypt$<n>$…``)."""
    from sqlalchemy import select  # noqa: PLC0415

    from ecusim.portal.models import Staff  # noqa: PLC0415

    with portal.service._sessions() as session:
        return {int(h.split("$")[1]) for h in session.scalars(select(Staff.password_hash))}


def test_the_fixture_portal_hashes_cheaply_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its users' password is public: the shipped 2^17 would only slow tests down."""
    from ecusim.portal.settings import PortalSettings  # noqa: PLC0415
    from ecusim.testing.portal import FIXTURE_SCRYPT_N  # noqa: PLC0415

    monkeypatch.delenv("ECUSIM_PORTAL_SCRYPT_N", raising=False)
    cheap = VirtualPortal(tmp_path / "cheap.db")
    try:
        assert _stored_costs(cheap) == {FIXTURE_SCRYPT_N}
    finally:
        cheap.close()
    monkeypatch.setenv("ECUSIM_PORTAL_SCRYPT_N", "2048")
    told = VirtualPortal(tmp_path / "env.db")
    try:
        assert _stored_costs(told) == {2048}
    finally:
        told.close()
    given = VirtualPortal(tmp_path / "given.db", settings=PortalSettings(scrypt_n=4096))
    try:
        assert _stored_costs(given) == {4096}
    finally:
        given.close()
