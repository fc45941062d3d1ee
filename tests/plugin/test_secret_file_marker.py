"""``@pytest.mark.ecusim_car(secret_file=...)``: the car and the ``portal`` fixture share the
file's secrets (docs/pytest-plugin.md, docs/secrets.md). The lab Pass-Code is refused, the
portal's is accepted, and ``uds_client`` unlocks level 0x01 with the file's key."""

from __future__ import annotations

from pathlib import Path

import pytest
from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException

from ecusim.portal.client import PortalClient
from ecusim.secret_file import write_new
from ecusim.testing import VirtualCar
from ecusim.testing.portal import TOOL_VERSION, VirtualPortal
from protocol.passcode import parse_code, pass_code

TRANSPONDER_VIN = "JTHBL5EF0C5000001"


@pytest.fixture
def car_secret_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A fresh secret file, put on the test's ``ecusim_car`` marker before the car is built
    (asked for first, so set up before ``virtual_car`` and ``portal``)."""
    path = tmp_path / "car.secrets.toml"
    write_new(path)
    request.node.add_marker(
        pytest.mark.ecusim_car(model="LS430", year=2004, vin=TRANSPONDER_VIN, secret_file=path)
    )
    return path


def test_the_car_and_the_portal_share_the_marker_s_secret_file(
    car_secret_file: Path, virtual_car: VirtualCar, uds_client: Client, portal: VirtualPortal
) -> None:
    assert virtual_car.vehicle.secrets.source == car_secret_file
    uds_client.change_session(0x03)
    uds_client.unlock_security_access(0x01)  # the plugin's client: the file's K_diag
    seed = bytes(uds_client.request_seed(0x11).service_data.seed)
    with pytest.raises(NegativeResponseException) as refused:
        uds_client.send_key(0x12, pass_code(virtual_car.vin, seed))  # the public lab secret
    assert refused.value.response.code == 0x35  # invalidKey
    seed = bytes(uds_client.request_seed(0x11).service_data.seed)
    response = uds_client.send_key(0x12, portal.pass_code(virtual_car.vin, seed))
    assert response.positive


def test_the_portal_s_http_api_issues_the_file_s_pass_code(
    car_secret_file: Path, virtual_car: VirtualCar, uds_client: Client, portal: VirtualPortal
) -> None:
    """The scan tool's way: the Pass-Code from the portal's HTTP API opens the car."""
    approval = portal.approve(virtual_car.vin)
    uds_client.change_session(0x03)
    seed = bytes(uds_client.request_seed(0x11).service_data.seed)
    with PortalClient(portal.url) as client:
        client.login(portal.technician, portal.password)
        issued = client.issue_pass_code(approval.number, portal.password, TOOL_VERSION, seed)
    code = parse_code(issued.pass_code)
    assert code != pass_code(virtual_car.vin, seed)  # not the public lab secret's
    assert uds_client.send_key(0x12, code).positive


@pytest.mark.ecusim_car(model="LS430", year=2004, vin=TRANSPONDER_VIN)
def test_without_a_secret_file_both_keep_the_lab_secret(
    virtual_car: VirtualCar, uds_client: Client, portal: VirtualPortal
) -> None:
    uds_client.change_session(0x03)
    uds_client.unlock_security_access(0x01)  # the lab level 0x01 key
    seed = bytes(uds_client.request_seed(0x11).service_data.seed)
    assert portal.pass_code(virtual_car.vin, seed) == pass_code(virtual_car.vin, seed)
    assert uds_client.send_key(0x12, pass_code(virtual_car.vin, seed)).positive


def test_a_bad_secret_file_fails_the_test_naming_the_marker(pytester: pytest.Pytester) -> None:
    """(Checked in a fresh run, where the failure is the inner test's.)"""
    pytester.makepyfile(
        test_inner="""
import pytest

@pytest.mark.ecusim_car(secret_file="/nonexistent/ecusim.secrets.toml")
def test_car(virtual_car):
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=120.0)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.ecusim_car: secret file /nonexistent/ecusim.secrets.toml: no such file*"]
    )
