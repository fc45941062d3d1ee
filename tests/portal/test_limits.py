"""Request limits through real uvicorn on 127.0.0.1 (OWASP ASVS 4.0.3 V12.1.1, V13.1.3): the
body-size limit (413, answered from ``Content-Length`` before the body is read, or while a chunked
body streams in), length bounds on every field, the values that used to answer 500, and
``TCP_NODELAY`` on the served connections."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from ecusim.portal.api import BackgroundServer
from ecusim.portal.api.limits import BodySizeLimit
from ecusim.portal.api.serving import listen
from ecusim.portal.errors import ValidationError
from ecusim.portal.rules import validate_tool_version
from ecusim.portal.service import Portal, RequestView
from ecusim.portal.settings import PortalSettings

from .kit import PASSWORD, Staffing, snapshot

API = "/api/v1"
TIMEOUT_S = 10.0
SEED = "00010203-04050607-08090A0B-0C0D0E0F"
LIMIT = PortalSettings().max_body_bytes


@pytest.fixture
def served(portal: Portal, staff: Staffing) -> Iterator[tuple[BackgroundServer, str]]:
    """The API on a free port of 127.0.0.1, and its URL."""
    background = BackgroundServer(portal, lifespan="off")
    url = background.start()
    try:
        yield background, url
    finally:
        stopped = background.stop()
    assert stopped, "uvicorn did not stop in time"


@pytest.fixture
def server(served: tuple[BackgroundServer, str]) -> BackgroundServer:
    return served[0]


@pytest.fixture
def base_url(served: tuple[BackgroundServer, str]) -> str:
    return served[1]


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{base_url}{API}", timeout=TIMEOUT_S) as client:
        yield client


def _login(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def assert_error(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == status
    assert error["field"] == field, error
    assert error["reason"]
    return error


def _login_body(size: int) -> bytes:
    """A login body of exactly ``size`` bytes (JSON padded with spaces)."""
    body = json.dumps({"username": "carol", "password": "wrong password"}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


# -- the body-size limit -----------------------------------------------------------------------


def test_a_1_mb_json_body_is_413_and_changes_nothing(http: httpx.Client, engine: Engine) -> None:
    before = snapshot(engine)
    response = http.post(
        "/login", content=_login_body(1024 * 1024), headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 413, None)
    assert str(LIMIT) in error["reason"]
    assert response.headers["connection"] == "close"
    assert snapshot(engine) == before


def test_a_body_at_the_limit_is_read(http: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    assert_error(http.post("/login", content=_login_body(LIMIT), headers=headers), 401, "password")
    over = http.post("/login", content=_login_body(LIMIT + 1), headers=headers)
    assert_error(over, 413, None)


def test_a_chunked_1_mb_body_is_413_while_it_streams(
    http: httpx.Client, engine: Engine, staff: Staffing
) -> None:
    token = _login(http, staff.technician)
    before = snapshot(engine)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        body = _login_body(1024 * 1024)
        for start in range(0, len(body), 16 * 1024):
            sent.append(start)
            yield body[start : start + 16 * 1024]

    response = http.post(
        "/login", content=chunks(), headers={**token, "Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, None)
    assert snapshot(engine) == before


def _raw_exchange(base_url: str, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection; everything the server sends until it closes."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    answer = b""
    with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as connection:
        connection.sendall(request)
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:  # closed with our unread bytes in its buffer: also a close
            pass
    return answer


def test_a_declared_200_mb_body_is_refused_before_it_is_read(base_url: str, engine: Engine) -> None:
    before = snapshot(engine)
    head = (
        b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n"
    )
    # 4 KiB of the 200 MB, then nothing more: the answer must come without the rest (the
    # recv above would time out otherwise), and the server must close the connection.
    answer = _raw_exchange(base_url, head + b'{"username": "carol", ' + b" " * 4096)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Payload Too Large" or status_line.startswith(
        b"HTTP/1.1 413 "
    )
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    assert json.loads(body)["error"]["status"] == 413
    assert snapshot(engine) == before


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1e3", b"12, 13"])
def test_a_malformed_content_length_is_400(base_url: str, value: bytes) -> None:
    """uvicorn's HTTP parser refuses it first (RFC 9110 §8.6); the middleware's own check
    covers servers that pass it on (below)."""
    head = b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + value
    answer = _raw_exchange(base_url, head + b"\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 400 ")


async def _asgi_call(
    headers: list[tuple[bytes, bytes]], chunks: list[bytes], limit: int = 1024
) -> tuple[list[dict[str, Any]], list[str], int]:
    """Call :class:`BodySizeLimit` around an app that reads the whole body; what it sent, what
    the app saw, and how many body messages were taken from the server."""
    seen: list[str] = []
    taken = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(body.decode())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        nonlocal taken
        taken += 1
        last = taken >= len(chunks)
        return {"type": "http.request", "body": chunks[taken - 1], "more_body": not last}

    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await BodySizeLimit(app, max_body_bytes=limit)(scope, receive, send)
    return sent, seen, taken


def _answer(sent: list[dict[str, Any]]) -> tuple[int, dict[str, Any], dict[bytes, bytes]]:
    start, body = sent
    return start["status"], json.loads(body["body"]), dict(start["headers"])


@pytest.mark.parametrize(
    ("values", "status"),
    [
        ([b"abc"], 400),
        ([b"+5"], 400),
        ([b" "], 400),
        ([b"5", b"6"], 400),
        ([b"5, 6"], 400),
        ([b"9" * 5000], 413),
        ([b"1025"], 413),
    ],
)
def test_the_middleware_checks_content_length_itself(values: list[bytes], status: int) -> None:
    headers = [(b"content-length", value) for value in values]
    sent, seen, taken = asyncio.run(_asgi_call(headers, [b"x" * 5]))
    code, body, response_headers = _answer(sent)
    assert (code, body["error"]["status"], body["error"]["field"]) == (status, status, None)
    assert response_headers[b"connection"] == b"close"
    assert (seen, taken) == ([], 0)  # the app never ran, the body was never read


def test_the_middleware_stops_reading_a_stream_at_the_limit() -> None:
    sent, seen, taken = asyncio.run(_asgi_call([], [b"x" * 400] * 100))
    code, body, _ = _answer(sent)
    assert (code, body["error"]["status"]) == (413, 413)
    assert seen == []
    assert taken == 3  # 1200 bytes > 1024: not one message more


def test_the_middleware_passes_bodies_within_the_limit() -> None:
    sent, seen, _ = asyncio.run(_asgi_call([(b"content-length", b"1024")], [b"x" * 512] * 2))
    assert sent[0]["status"] == 204
    assert seen == ["x" * 1024]


def test_the_limit_is_the_portal_setting(engine: Engine, portal: Portal, staff: Staffing) -> None:
    small = Portal(portal._sessions, settings=PortalSettings(max_body_bytes=2048))
    with BackgroundServer(small, lifespan="off") as url:
        response = httpx.post(
            f"{url}{API}/login",
            content=_login_body(3000),
            headers={"Content-Type": "application/json"},
            timeout=TIMEOUT_S,
        )
    assert_error(response, 413, None)


# -- field lengths and the values that used to answer 500 ---------------------------------------


@pytest.mark.parametrize(
    ("field", "size"),
    [
        ("vin", 33),
        ("repair_order", 61),
        ("customer_last_name", 61),
    ],
)
def test_request_fields_are_bounded(
    http: httpx.Client, engine: Engine, staff: Staffing, field: str, size: int
) -> None:
    token = _login(http, staff.technician)
    body: dict[str, Any] = {
        "vin": "JTHBL5EF0C5000001",
        "repair_order": "RO-4711",
        "customer_last_name": "Smith",
        "confirmations": dict.fromkeys(
            (
                "customer_authority",
                "customer_identity",
                "vehicle_registration",
                "terms_and_conditions",
            ),
            True,
        ),
        field: "A" * size,
    }
    before = snapshot(engine)
    assert_error(http.post("/requests", json=body, headers=token), 422, field)
    assert snapshot(engine) == before


@pytest.mark.parametrize(("field", "size"), [("username", 65), ("password", 129)])
def test_login_fields_are_bounded(
    http: httpx.Client, engine: Engine, field: str, size: int
) -> None:
    body = {"username": "carol", "password": PASSWORD, field: "a" * size}
    before = snapshot(engine)
    assert_error(http.post("/login", json=body), 422, field)
    assert snapshot(engine) == before


@pytest.mark.parametrize("username", ["carol\x00", "\x00", "car\ud800ol", "carol\x1b"])
def test_a_login_username_no_one_can_have_is_422(
    http: httpx.Client, engine: Engine, username: str
) -> None:
    """A NUL made PostgreSQL raise (500); a lone surrogate failed to encode (500)."""
    body = json.dumps({"username": username, "password": PASSWORD})  # ensure_ascii: \\u escapes
    before = snapshot(engine)
    response = http.post("/login", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "username")
    assert snapshot(engine) == before


def test_a_5000_digit_tool_version_is_422(
    http: httpx.Client, engine: Engine, staff: Staffing, approved: RequestView
) -> None:
    token = _login(http, staff.technician)
    before = snapshot(engine)
    body = {"password": PASSWORD, "tool_version": "9" * 5000, "seed": SEED}
    response = http.post(f"/requests/{approved.number}/pass-codes", json=body, headers=token)
    assert_error(response, 422, "tool_version")
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "version",
    ["9" * 33, "9" * 5000, "9." + "1" * 7 + ".037", "1" * 7, "9.10.037." + "9" * 5000],
)
def test_the_service_bounds_the_tool_version_before_int(version: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate_tool_version(version)
    assert raised.value.field == "tool_version"


def test_tool_version_parts_of_6_digits_still_count() -> None:
    assert validate_tool_version("9.999999.037") == "9.999999.037"


@pytest.mark.parametrize("since_seq", [2**31, 2**63, 10**50])
def test_a_huge_audit_cursor_is_422(http: httpx.Client, staff: Staffing, since_seq: int) -> None:
    token = _login(http, staff.manager)
    response = http.get("/audit", params={"since_seq": since_seq}, headers=token)
    assert_error(response, 422, "since_seq")


def test_the_largest_audit_cursor_is_an_empty_page(http: httpx.Client, staff: Staffing) -> None:
    token = _login(http, staff.manager)
    response = http.get("/audit", params={"since_seq": 2**31 - 1}, headers=token)
    assert response.status_code == 200, response.text
    assert response.json() == {"records": []}


def test_the_service_bounds_the_audit_cursor(portal: Portal, staff: Staffing) -> None:
    with pytest.raises(ValidationError) as raised:
        portal.audit_records(staff.manager, since_seq=2**63)
    assert raised.value.field == "since_seq"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("until", "9999-12-31T23:59:59-01:00"),
        ("since", "0001-01-01T00:00:00+01:00"),
        ("since", "9999-12-31T23:59:59-23:59"),
        ("until", "x" * 65),
    ],
)
def test_a_nicb_time_out_of_range_is_422(
    http: httpx.Client, staff: Staffing, field: str, value: str
) -> None:
    token = _login(http, staff.manager)
    params = {"since": "2014-01-01", "until": "2015-01-01", field: value}
    assert_error(http.get("/reports/nicb", params=params, headers=token), 422, field)


def test_nicb_times_at_the_ends_of_the_calendar_still_work(
    http: httpx.Client, staff: Staffing
) -> None:
    token = _login(http, staff.manager)
    params = {"since": "0001-01-01T00:00:00-01:00", "until": "9999-12-31T23:59:59+01:00"}
    response = http.get("/reports/nicb", params=params, headers=token)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("month", ["9" * 5000 + "-01", "2014-0" + "7" * 5000, "20140-07"])
def test_a_huge_month_is_422(http: httpx.Client, staff: Staffing, month: str) -> None:
    token = _login(http, staff.manager)
    response = http.get(f"/reports/monthly/63123/{month}", headers=token)
    assert_error(response, 422, "month")


@pytest.mark.parametrize(
    "path",
    [
        "/requests/{big}",
        "/requests/{big}/refuse",
        "/requests/{big}/approve",
        "/requests/{big}/pass-codes",
        "/reports/monthly/{big}/2014-07",
        "/approvals?vin={big}",
        "/reports/nicb?since={big}&until=2015-01-01",
        "/audit?since_seq={big}",
        "/audit?limit={big}",
        "/reports/monthly/63123/2014-07?format={big}",
    ],
)
def test_a_10_kb_path_or_query_parameter_is_refused_cleanly(
    http: httpx.Client, staff: Staffing, path: str
) -> None:
    token = _login(http, staff.manager)
    url = path.format(big="9" * 10_000)
    response = (
        http.get(url, headers=token)
        if "/requests/" not in url or url.count("/") == 2
        else http.post(url, json={}, headers=token)
    )
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["field"] is not None


@pytest.mark.parametrize("number", ["%00", "1%00", "14070100001%00"])
@pytest.mark.parametrize("action", ["", "/refuse", "/approve", "/pass-codes"])
def test_a_nul_in_a_request_number_is_refused_cleanly(
    http: httpx.Client, engine: Engine, staff: Staffing, number: str, action: str
) -> None:
    """A NUL reached the SELECT and made PostgreSQL raise (500)."""
    token = _login(http, staff.manager)
    bodies: dict[str, Any] = {
        "/refuse": {"reason": "no"},
        "/approve": {
            "confirmations": {
                "details_verified": True,
                "nicb_log_acknowledged": True,
                "terms_and_conditions": True,
            }
        },
        "/pass-codes": {"password": PASSWORD, "tool_version": "9.10.037", "seed": SEED},
    }
    before = snapshot(engine)
    url = f"/requests/{number}{action}"
    response = (
        http.post(url, json=bodies[action], headers=token)
        if action
        else http.get(url, headers=token)
    )
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["field"] in ("number", "request_number")
    assert snapshot(engine) == before


# -- TCP_NODELAY -------------------------------------------------------------------------------


def test_the_listening_socket_is_tcp_so_asyncio_sets_nodelay() -> None:
    with listen("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        connection = socket.create_connection(sock.getsockname()[:2], timeout=TIMEOUT_S)
        with connection, sock.accept()[0] as accepted:
            assert accepted.proto == socket.IPPROTO_TCP  # inherits the listener's
            assert not accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            asyncio.base_events._set_nodelay(accepted)  # type: ignore[attr-defined]
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_served_connections_have_tcp_nodelay(server: BackgroundServer, http: httpx.Client) -> None:
    """Without it each kept-alive answer waited for Nagle and the client's delayed ACK."""
    assert http.get("/health").status_code == 200
    state = server._server.server_state
    deadline = time.monotonic() + TIMEOUT_S
    while not state.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    sockets = [
        connection.transport.get_extra_info("socket") for connection in list(state.connections)
    ]
    assert sockets
    for sock in sockets:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
