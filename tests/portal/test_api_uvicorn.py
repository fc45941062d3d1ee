"""The API served by uvicorn on 127.0.0.1 (a free port, in a thread) and used over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from ecusim.portal.api import BackgroundServer, ServerStartError
from ecusim.portal.service import Portal

from .kit import PASSWORD, VIN, Staffing

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


@pytest.fixture
def base_url(portal: Portal, staff: Staffing) -> Iterator[str]:
    """The API on a free port of 127.0.0.1 (bound before uvicorn starts: no free-port race)."""
    server = BackgroundServer(
        portal, lifespan="off", start_timeout_s=START_TIMEOUT_S, stop_timeout_s=STOP_TIMEOUT_S
    )
    url = server.start()
    try:
        yield url
    finally:
        stopped = server.stop()
    assert stopped, "uvicorn did not stop in time"


def test_a_taken_port_is_a_start_error_that_names_it(portal: Portal) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = BackgroundServer(portal, port=port)
        with pytest.raises(ServerStartError, match=rf"cannot listen on 127\.0\.0\.1:{port}: "):
            server.start()
    assert not server.running


def _ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_url_has_its_brackets(portal: Portal) -> None:
    server = BackgroundServer(portal, host="::1", lifespan="off")
    url = server.start()
    try:
        assert url.startswith("http://[::1]:")
        assert httpx.get(f"{url}/api/v1/health", timeout=10.0).json() == {"status": "ok"}
    finally:
        assert server.stop()


def test_happy_path_over_http(base_url: str, staff: Staffing) -> None:
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=10.0) as http:
        assert http.get("/health").json() == {"status": "ok"}
        unauthorised = http.get("/inbox")
        assert unauthorised.status_code == 401
        assert unauthorised.json()["error"]["field"] == "authorization"

        def login(username: str) -> dict[str, str]:
            response = http.post("/login", json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            return {"Authorization": f"Bearer {response.json()['token']}"}

        tech = login(staff.technician)
        created = http.post(
            "/requests",
            headers=tech,
            json={
                "vin": VIN,
                "repair_order": "RO-4711",
                "customer_last_name": "Smith",
                "confirmations": {
                    "customer_authority": True,
                    "customer_identity": True,
                    "vehicle_registration": True,
                    "terms_and_conditions": True,
                },
            },
        )
        assert created.status_code == 201, created.text
        number = created.json()["number"]

        manager = login(staff.manager)
        inbox = http.get("/inbox", headers=manager).json()
        assert [r["number"] for r in inbox["awaiting_approval"]] == [number]
        approved = http.post(
            f"/requests/{number}/approve",
            headers=manager,
            json={
                "confirmations": {
                    "details_verified": True,
                    "nicb_log_acknowledged": True,
                    "terms_and_conditions": True,
                }
            },
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"

        issued = http.post(
            f"/requests/{number}/pass-codes",
            headers=tech,
            json={
                "password": PASSWORD,
                "tool_version": "9.10.037",
                "seed": "00010203-04050607-08090A0B-0C0D0E0F",
            },
        )
        assert issued.status_code == 201, issued.text
        assert issued.json()["pass_code"] == "68048306-E57DF5FB-1D818A1B-527791CD"

        malformed = http.post(
            f"/requests/{number}/pass-codes",
            headers={**tech, "Content-Type": "application/json"},
            content=b'{"seed": ',
        )
        assert malformed.status_code == 400
        verify = http.get("/audit/verify", headers=manager)
        assert verify.json() == {"ok": True, "problems": [], "legacy": 0}
    assert httpx.get(f"{base_url}/openapi.json", timeout=10.0).json()["info"]["version"] == "1"
