"""Malformed input at every endpoint, through real uvicorn on 127.0.0.1, on SQLite and PostgreSQL:
never a 5xx, always the contract's error shape, with the field named where one applies.

Table-driven (huge and negative numbers, NaN and Infinity, objects and arrays where text is
expected, NUL, lone surrogates, control characters, long strings, deep nesting, non-UTF-8 bytes,
wrong content types, empty bodies) and property-based (hypothesis, derandomized and bounded).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecusim.portal.api import BackgroundServer
from ecusim.portal.service import Portal, RequestView

from .kit import DEALER, PASSWORD, VIN, Staffing

TIMEOUT_S = 10.0
SEED = "00010203-04050607-08090A0B-0C0D0E0F"
_HOLE = "__malformed__"


@dataclass(frozen=True)
class Api:
    http: httpx.Client
    token: dict[str, str]
    number: str


@pytest.fixture
def api(portal: Portal, staff: Staffing, approved: RequestView) -> Iterator[Api]:
    """The API on a free port, a manager's token and an approved request's number."""
    server = BackgroundServer(portal, lifespan="off")
    url = server.start()
    try:
        with httpx.Client(base_url=f"{url}/api/v1", timeout=TIMEOUT_S) as http:
            login = http.post("/login", json={"username": staff.manager, "password": PASSWORD})
            assert login.status_code == 200, login.text
            token = {"Authorization": f"Bearer {login.json()['token']}"}
            yield Api(http, token, approved.number)
    finally:
        stopped = server.stop()
    assert stopped, "uvicorn did not stop in time"


def _bodies(number: str) -> dict[str, dict[str, Any]]:
    """A valid body for each endpoint that takes one."""
    return {
        "/login": {"username": "carol", "password": PASSWORD},
        "/requests": {
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
        f"/requests/{number}/approve": {
            "confirmations": {
                "details_verified": True,
                "nicb_log_acknowledged": True,
                "terms_and_conditions": True,
            }
        },
        f"/requests/{number}/refuse": {"reason": "the customer left"},
        f"/requests/{number}/pass-codes": {
            "password": PASSWORD,
            "tool_version": "9.10.037",
            "seed": SEED,
        },
    }


BODY_PATHS = ("/login", "/requests", "/approve", "/refuse", "/pass-codes")


def _body_path(api: Api, which: str) -> str:
    return which if which in ("/login", "/requests") else f"/requests/{api.number}{which}"


def _fields(body: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every field of ``body``, nested ones too (``("confirmations", "customer_identity")``)."""
    for key, value in body.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _fields(value, (*prefix, key))


def _with_raw(body: dict[str, Any], field: tuple[str, ...], raw: str) -> bytes:
    """``body`` as JSON with ``field`` replaced by the raw JSON text ``raw``."""
    copy = json.loads(json.dumps(body))
    target = copy
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = _HOLE
    return json.dumps(copy).replace(json.dumps(_HOLE), raw).encode("utf-8", "surrogatepass")


RAW_VALUES = (
    "null",
    "true",
    "0",
    "-1",
    "1.5",
    "1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    str(2**63),
    str(-(2**63) - 1),
    "9" * 5000,
    "[]",
    '["carol"]',
    "{}",
    '{"carol": "x"}',
    '""',
    '"   "',
    '"\\u0000"',
    '"carol\\u0000"',
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"\\u001b[31m"',
    '"\\u202e"',
    '"\\ufeff"',
    '"\U0001f642"',
    json.dumps("x" * 10_000),
    json.dumps("9" * 5000),
    json.dumps("9." * 2000 + "9"),
    "[" * 1000 + "]" * 1000,
    '{"a": ' * 1000 + "1" + "}" * 1000,
)
"""JSON texts put in place of one field."""


_NAMES = {"number": ("number", "request_number")}
"""The API names a malformed path ``number``; the service names a wrong one ``request_number``."""


def assert_clean(response: httpx.Response, field: str | None = None) -> None:
    """Not a 5xx; the contract's error shape; a 422 names a field (``field``'s, if given)."""
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code < 400:  # a success, or Starlette's redirect of a trailing "/"
        return
    error = response.json()["error"]
    assert error["status"] == response.status_code
    assert isinstance(error["reason"], str) and error["reason"]
    assert error["field"] is None or isinstance(error["field"], str)
    if response.status_code == 422 and field is not None:
        assert error["field"] is not None, (response.request.url, error)
        head = field.split(".")[0]
        assert error["field"].split(".")[0] in _NAMES.get(head, (head,)), (field, error)


@pytest.mark.parametrize("which", BODY_PATHS)
def test_malformed_field_values(api: Api, which: str) -> None:
    path = _body_path(api, which)
    body = _bodies(api.number)[path]
    headers = {**api.token, "Content-Type": "application/json"}
    for field in _fields(body):
        for raw in RAW_VALUES:
            response = api.http.post(path, content=_with_raw(body, field, raw), headers=headers)
            assert_clean(response, ".".join(field))


RAW_BODIES = (
    b"",
    b" ",
    b"null",
    b"[]",
    b'[{"username": "carol"}]',
    b'"carol"',
    b"1",
    b"NaN",
    b"{",
    b'{"username": "carol",}',
    b'{"username": "carol" "password": "x"}',
    b"\xff\xfe\x00\x00",
    b'{"username": "\xff\xfe", "password": "x"}',
    b'{"username": "\xed\xa0\x80", "password": "x"}',
    b"\xef\xbb\xbf{}",
    b"\x00",
    b"[" * 1000 + b"]" * 1000,
    b'{"a": ' * 1000 + b"1" + b"}" * 1000,
    b"[" * 60_000,
    b"9" * 5000,
    b'{"username": "carol", "username": ["x"], "password": "x"}',
)
"""Whole bodies that are not the JSON object expected (all within the size limit)."""

CONTENT_TYPES = (
    "application/json",
    "application/json; charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "",
)


@pytest.mark.parametrize("which", BODY_PATHS)
def test_malformed_bodies_and_content_types(api: Api, which: str) -> None:
    path = _body_path(api, which)
    valid = json.dumps(_bodies(api.number)[path]).encode()
    for content_type in CONTENT_TYPES:
        for raw in (*RAW_BODIES, valid, b"username=carol&password=x"):
            headers = {**api.token, "Content-Type": content_type}
            assert_clean(api.http.post(path, content=raw, headers=headers))
    assert_clean(api.http.post(path, headers=api.token))  # no body, no content type


RAW_PARAMETERS = (
    "",
    "%00",
    "a%00",
    "%FF",
    "%ED%A0%80",
    "%C0%80",
    "%0D%0A",
    "%1B",
    "%E2%80%AE",
    "%2F",
    "..",
    "%20",
    "-1",
    "0",
    "NaN",
    "inf",
    "1e9",
    "1.5",
    str(2**31),
    str(2**63),
    "9" * 5000,
    "x" * 10_000,
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "2014-07-01T00:00:00+99:00",
    "9999-12",
    "0000-00",
)
"""Path and query values, as they go on the wire (percent-encoded where need be)."""


def _get_urls(number: str) -> dict[str, str]:
    """GET endpoints with ``{}`` where a malformed value goes, named by the field it fills."""
    return {
        "vin": "/approvals?vin={}",
        "since_seq": "/audit?since_seq={}&limit=10",
        "limit": "/audit?since_seq=0&limit={}",
        "since": "/reports/nicb?since={}&until=2015-01-01",
        "until": "/reports/nicb?since=2014-01-01&until={}",
        "format": f"/reports/monthly/{DEALER}/2014-07?format={{}}",
        "month": f"/reports/monthly/{DEALER}/{{}}",
        "dealer_code": "/reports/monthly/{}/2014-07",
        "number": "/requests/{}",
    }


def test_malformed_path_and_query_values(api: Api) -> None:
    for field, template in _get_urls(api.number).items():
        for raw in RAW_PARAMETERS:
            url = template.format(raw)
            assert_clean(api.http.get(url, headers=api.token), field)
            if "?" in url:  # the parameter twice
                repeated = api.http.get(f"{url}&{url.partition('?')[2]}", headers=api.token)
                assert_clean(repeated, field)
    bodies = _bodies("{}")
    for template in [path for path in bodies if "{}" in path]:
        for raw in RAW_PARAMETERS:
            response = api.http.post(template.format(raw), json=bodies[template], headers=api.token)
            assert_clean(response)


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer",
        b"Token x",
        b"Basic Y2Fyb2w6eA==",
        b"bearer x",
        b"Bearer " + b"x" * 8000,
        b"Bearer \xff\xfe",
        b"Bearer a b c",
    ],
)
def test_malformed_authorization(api: Api, authorization: bytes) -> None:
    response = api.http.get("/me", headers={b"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "authorization"


_TEXT = st.text(st.characters(exclude_categories=()), max_size=80)
"""Any code points, lone surrogates and NUL included."""
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=12,
)
_HYPOTHESIS = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("which", BODY_PATHS)
@_HYPOTHESIS
@given(data=st.data())
def test_any_json_in_any_field(api: Api, which: str, data: st.DataObject) -> None:
    path = _body_path(api, which)
    body = _bodies(api.number)[path]
    field = data.draw(st.sampled_from(list(_fields(body))))
    raw = json.dumps(data.draw(_JSON), allow_nan=True)
    headers = {**api.token, "Content-Type": "application/json"}
    response = api.http.post(path, content=_with_raw(body, field, raw), headers=headers)
    assert_clean(response, ".".join(field))


@_HYPOTHESIS
@given(data=st.data())
def test_any_text_in_any_parameter(api: Api, data: st.DataObject) -> None:
    field, template = data.draw(st.sampled_from(sorted(_get_urls(api.number).items())))
    text = data.draw(_TEXT)
    response = api.http.get(
        template.format(quote(text, safe="", errors="surrogatepass")), headers=api.token
    )
    assert_clean(response, field)


@_HYPOTHESIS
@given(body=st.binary(max_size=200))
def test_any_bytes_as_a_body(api: Api, body: bytes) -> None:
    headers = {**api.token, "Content-Type": "application/json"}
    for which in BODY_PATHS:
        assert_clean(api.http.post(_body_path(api, which), content=body, headers=headers))
