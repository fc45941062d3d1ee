"""The HTTP client (``ecusim.portal.client``): against ``create_app(portal)`` in this process
(SQLite and PostgreSQL, through Starlette's TestClient), and against canned answers
(``httpx.MockTransport``) for what a real server rarely does: no JSON, a wrong shape, no answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ecusim.portal.client import (
    AuditVerification,
    PassCodeInfo,
    PortalClient,
    PortalClientError,
    PortalUnreachableError,
    RequestInfo,
)
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Portal
from protocol.clock import FakeClock

from .kit import DEALER, PASSWORD, START, VIN, Staffing

BASE_URL = "http://testserver"
SEED = "00010203-04050607-08090A0B-0C0D0E0F"
PASS_CODE = "68048306-E57DF5FB-1D818A1B-527791CD"
"""diagnostic-contract.md §5's known answer for VIN and SEED."""
TOOL_VERSION = "9.10.037"
IDENTIFIED = IdentificationConfirmations.all_confirmed()
APPROVED = ApprovalConfirmations.all_confirmed()

# -- against the real API -------------------------------------------------------------------


class _AppTransport(httpx.BaseTransport):
    """Hands each request to a Starlette ``TestClient`` (the ASGI app, in this process).

    ``httpx.ASGITransport`` is asynchronous only; the client is synchronous.
    """

    def __init__(self, test_client: httpx.Client) -> None:
        self._test_client = test_client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._test_client.send(request)


@pytest.fixture
def transport(portal: Portal) -> Iterator[httpx.BaseTransport]:
    api = pytest.importorskip(
        "ecusim.portal.api", reason="ecusim.portal.api (the HTTP API) is not there yet"
    )
    testclient = pytest.importorskip("fastapi.testclient", reason="FastAPI is not installed")
    with testclient.TestClient(api.create_app(portal), base_url=BASE_URL) as test_client:
        yield _AppTransport(test_client)


@pytest.fixture
def connect(transport: httpx.BaseTransport) -> Iterator[Callable[[str], PortalClient]]:
    """``connect(username)``: a client logged in as that user (closed at teardown)."""
    clients: list[PortalClient] = []

    def login(username: str) -> PortalClient:
        client = PortalClient(BASE_URL, transport=transport)
        clients.append(client)
        client.login(username, PASSWORD)
        return client

    yield login
    for client in clients:
        client.close()


def _request(client: PortalClient) -> RequestInfo:
    return client.create_request(VIN, "RO-4711", "Smith", IDENTIFIED)


def test_login_gives_a_session_and_the_user(
    transport: httpx.BaseTransport, staff: Staffing, clock: FakeClock
) -> None:
    with PortalClient(BASE_URL, transport=transport) as client:
        assert client.health() is True
        assert client.session is None
        session = client.login(staff.manager, PASSWORD)
        assert client.session == session
        assert session.token
        assert session.expires_at > START
        assert session.user.username == staff.manager
        assert session.user.dealer_code == DEALER
        assert session.user.can_approve is True
        assert client.me() == session.user


def test_request_approve_and_pass_code_end_to_end(
    connect: Callable[[str], PortalClient], staff: Staffing
) -> None:
    technician = connect(staff.technician)
    manager = connect(staff.manager)
    assert technician.find_approval(VIN) is None

    request = _request(technician)
    assert request.status == "requested"
    assert (request.vin, request.dealer_code) == (VIN, DEALER)
    assert request.technician_username == staff.technician
    assert request.created_at == START
    assert request.expires_at == START + timedelta(hours=72)
    assert technician.get_request(request.number) == request
    assert [r.number for r in technician.inbox().my_requests] == [request.number]
    assert [r.number for r in manager.inbox().awaiting_approval] == [request.number]

    approved = manager.approve(request.number, APPROVED)
    assert approved.status == "approved"
    assert approved.approved_by == staff.manager.title()
    assert approved.valid_until == START + timedelta(hours=72)
    assert manager.inbox().awaiting_approval == ()
    assert technician.find_approval(VIN) == approved

    issued = technician.issue_pass_code(request.number, PASSWORD, TOOL_VERSION, SEED)
    assert isinstance(issued, PassCodeInfo)
    assert issued.pass_code == PASS_CODE
    assert (issued.request_number, issued.vin) == (request.number, VIN)
    assert issued.issued_at == START
    assert issued.approval_valid_until == approved.valid_until
    assert len(issued.seed_sha256) == 64
    # The seed as bytes gives the same code (the client sends its display form).
    again = technician.issue_pass_code(request.number, PASSWORD, TOOL_VERSION, bytes(range(16)))
    assert again.pass_code == PASS_CODE
    assert manager.audit_verify() == AuditVerification(ok=True, problems=())


def test_refuse(connect: Callable[[str], PortalClient], staff: Staffing) -> None:
    technician = connect(staff.technician)
    request = _request(technician)
    refused = connect(staff.manager2).refuse(request.number, "customer ID not shown")
    assert refused.status == "refused"
    assert refused.refusal_reason == "customer ID not shown"
    assert refused.refused_at == START
    assert technician.get_request(request.number).status == "refused"
    assert technician.find_approval(VIN) is None


def _error(call: Callable[[], object]) -> PortalClientError:
    with pytest.raises(PortalClientError) as info:
        call()
    assert not isinstance(info.value, PortalUnreachableError)
    return info.value


def test_errors_carry_status_field_and_reason(
    transport: httpx.BaseTransport,
    connect: Callable[[str], PortalClient],
    staff: Staffing,
    clock: FakeClock,
) -> None:
    with PortalClient(BASE_URL, transport=transport) as anonymous:
        wrong = _error(lambda: anonymous.login(staff.technician, "not the password"))
        assert wrong.status == 401
        assert anonymous.session is None
        assert _error(anonymous.inbox).status == 401  # no token

    technician = connect(staff.technician)
    unconfirmed = _error(
        lambda: technician.create_request(VIN, "RO-1", "Smith", IdentificationConfirmations())
    )
    assert (unconfirmed.status, unconfirmed.field) == (422, "confirmations.customer_authority")
    bad_vin = _error(lambda: technician.create_request("JTHBL5EF0C500000X", "RO", "S", IDENTIFIED))
    assert (bad_vin.status, bad_vin.field) == (422, "vin")
    assert bad_vin.reason

    request = _request(technician)
    not_manager = _error(lambda: technician.approve(request.number, APPROVED))
    assert (not_manager.status, not_manager.field) == (403, "job_title")
    assert "cannot approve" in str(not_manager) and "HTTP 403" in str(not_manager)
    assert _error(lambda: technician.get_request("99999999999")).status == 404
    not_approved = _error(
        lambda: technician.issue_pass_code(request.number, PASSWORD, TOOL_VERSION, SEED)
    )
    assert (not_approved.status, not_approved.field) == (409, "request_number")
    old_tool = _error(lambda: technician.issue_pass_code(request.number, PASSWORD, "9.9", SEED))
    assert (old_tool.status, old_tool.field) == (422, "tool_version")

    clock.advance(timedelta(hours=72, seconds=1).total_seconds())
    manager = PortalClient(BASE_URL, transport=transport)  # the 8 h tokens have expired too
    manager.login(staff.manager, PASSWORD)
    expired = _error(lambda: manager.approve(request.number, APPROVED))
    assert (expired.status, expired.field) == (409, "request_number")
    manager.close()


def test_a_path_segment_cannot_escape(
    connect: Callable[[str], PortalClient], staff: Staffing
) -> None:
    technician = connect(staff.technician)
    assert _error(lambda: technician.get_request("../inbox")).status == 404


# -- canned answers ----------------------------------------------------------------------------


def _canned(
    handler: Callable[[httpx.Request], httpx.Response], base_url: str = "http://portal:8077"
) -> PortalClient:
    return PortalClient(base_url, transport=httpx.MockTransport(handler))


def _request_json(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "number": "14070100001",
        "dealer_code": DEALER,
        "dealer_name": "Lexus of Lab City",
        "technician_username": "carol",
        "technician_name": "Carol",
        "vin": VIN,
        "repair_order": "RO-4711",
        "customer_last_name": "Smith",
        "status": "requested",
        "created_at": "2014-07-01T20:27:00+00:00",
        "expires_at": "2014-07-04T20:27:00+00:00",
        "approved_by": None,
        "approved_at": None,
        "valid_until": None,
        "refused_by": None,
        "refused_at": None,
        "refusal_reason": None,
    }
    body.update(changes)
    return body


def test_base_url_gets_the_api_prefix_once() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"status": "ok"})

    for base in ("http://portal:8077", "http://portal:8077/", "http://portal:8077/api/v1/"):
        assert _canned(handler, base).health() is True
    assert seen == ["http://portal:8077/api/v1/health"] * 3


def test_the_token_is_sent_after_login() -> None:
    headers: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers.get("authorization"))
        if request.url.path.endswith("/login"):
            assert json.loads(request.content) == {"username": "carol", "password": "pw"}
            user = {
                "username": "carol",
                "name": "Carol",
                "dealer_code": DEALER,
                "job_title": "Technician",
                "enrolled": True,
                "can_approve": False,
            }
            body = {"token": "tok123", "expires_at": "2014-07-02T04:27:00+00:00", "user": user}
            return httpx.Response(200, json=body)
        return httpx.Response(200, json=_request_json(approved_at="2014-07-01T21:00:00+00:00"))

    client = _canned(handler)
    session = client.login("carol", "pw")
    assert session.expires_at == datetime(2014, 7, 2, 4, 27, tzinfo=UTC)
    info = client.get_request("14070100001")
    assert info.approved_at == datetime(2014, 7, 1, 21, tzinfo=UTC)
    assert headers == [None, "Bearer tok123"]
    client.logout()
    client.get_request("14070100001")
    assert headers[-1] is None


def test_find_approval_is_none_on_404_but_other_errors_raise() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["vin"] == VIN
        error = {"status": 404, "field": "vin", "reason": "no valid approval"}
        return httpx.Response(404, json={"error": error})

    assert _canned(handler).find_approval(VIN) is None

    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"status": 401, "field": None, "reason": "x"}})

    assert _error(lambda: _canned(forbidden).find_approval(VIN)).status == 401


def test_an_error_without_the_contract_body_still_reads() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>\n<h1>Bad gateway</h1>\n</html>")

    error = _error(_canned(handler).inbox)
    assert error.status == 502
    assert error.field is None
    assert "Bad Gateway" in error.reason and "<h1>Bad gateway</h1>" in error.reason
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json=_request_json(created_at="yesterday")),
        httpx.Response(200, json=_request_json(status=None)),
    ],
    ids=["not-json", "not-an-object", "bad-time", "missing-field"],
)
def test_an_answer_of_the_wrong_shape_is_a_client_error(answer: httpx.Response) -> None:
    error = _error(lambda: _canned(lambda request: answer).get_request("1"))
    assert error.status == 200
    assert error.reason


def test_an_unreachable_server_is_a_clear_error() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(PortalUnreachableError) as info:
        _canned(refused).login("carol", "pw")
    assert info.value.status == 0
    assert "cannot reach the portal at http://portal:8077/api/v1" in str(info.value)
    assert "Connection refused" in str(info.value)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(PortalUnreachableError, match="did not answer in time"):
        _canned(slow).inbox()


def test_an_unused_port_is_unreachable() -> None:
    client = PortalClient("http://127.0.0.1:9", timeout_s=2.0)  # discard: nothing listens
    with client, pytest.raises(PortalUnreachableError, match=r"127\.0\.0\.1:9"):
        client.health()
