"""Attacks on the login, step-up and technician's pages from outside, over real HTTP (uvicorn on
127.0.0.1, real cookies, raw bodies where a browser would not send them), against OWASP ASVS
4.0.3: V3 (sessions), V4 (access control), V5 (validation, output encoding), V13/V14 (bodies,
methods, headers). Every hostile answer must be a precise 4xx page (never a 500 or a traceback)
and change nothing in the database (:func:`tests.portal.kit.snapshot`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from ecusim.portal.service import Portal, RequestView
from ecusim.portal.web.pages.requests import POLICY_BOXES
from tests.portal.kit import (
    OTHER_DEALER,
    PASSWORD,
    VIN,
    Staffing,
    snapshot,
    without_audit,
)
from tests.portal.web.pages_kit import csrf_of, log_in, step_up

SEED = "00010203-04050607-08090A0B-0C0D0E0F"
CODE = "68048306-E57DF5FB-1D818A1B-527791CD"  # SEED's Pass-Code (test_request_pages KNOWN)
TOOL = "9.10.037"
VIN2 = "JTHBA1D29G5000002"
BOXES = {f"confirm_{name}": "on" for name, _ in POLICY_BOXES}
XSS = "\"'><script>alert(1)</script>"
"""Breaks out of a double- or single-quoted attribute and opens a script (printable: the rules
take it as a name)."""
ESCAPED = "&#34;&#39;&gt;&lt;script&gt;"
"""How the templates' autoescape writes the start of :data:`XSS`."""
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def technician(browser: httpx.Client, staff: Staffing) -> httpx.Client:
    """The browser, logged in as the technician, password re-entered."""
    assert log_in(browser, staff.technician).status_code == 303
    step_up(browser, "/requests/new")
    return browser


@pytest.fixture
def outsider(base_url: str, portal: Portal, staff: Staffing) -> Iterator[httpx.Client]:
    """A technician of the other dealer, logged in, password re-entered."""
    portal.add_staff(OTHER_DEALER, "mallory", "Mallory", "Technician", PASSWORD)
    with httpx.Client(base_url=base_url) as client:
        assert log_in(client, "mallory").status_code == 303
        step_up(client)
        yield client


def business(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """The database but the audit chain, the login sessions and the password throttle."""
    tables = without_audit(snapshot(engine))
    return {k: v for k, v in tables.items() if k not in ("login_session", "auth_failure")}


def token_of(client: httpx.Client, path: str = "/requests/new") -> str:
    return csrf_of(client.get(path))


def assert_page(response: httpx.Response, status: int) -> None:
    """A precise HTML page with ``status``: never a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "Traceback" not in response.text
    assert 'id="error-page"' in response.text or 'class="error"' in response.text, response.text


def assert_escaped(page: httpx.Response) -> None:
    assert "<script>alert" not in page.text
    assert XSS not in page.text and XSS[:3] not in page.text
    assert ESCAPED in page.text, page.text


# -- V5.3: output encoding of everything echoed --------------------------------------------------


def test_stored_and_reflected_markup_is_escaped_in_text_and_attributes(
    technician: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    data = {"vin": VIN, "repair_order": XSS, "customer_last_name": XSS, **BOXES}
    token = token_of(technician)
    confirm = technician.post("/requests/new", data={"csrf_token": token, **data, "step": "next"})
    assert confirm.status_code == 200
    assert_escaped(confirm)  # in the details and in the hidden inputs' value attributes
    edit = technician.post("/requests/new", data={"csrf_token": token, **data, "step": "edit"})
    assert_escaped(edit)  # in the text inputs' value attributes
    bad_vin = technician.post(
        "/requests/new", data={"csrf_token": token, **data, "vin": XSS, "step": "next"}
    )
    assert_page(bad_vin, 422)
    assert_escaped(bad_vin)
    sent = technician.post("/requests/new", data={"csrf_token": token, **data, "step": "ok"})
    assert sent.status_code == 303
    number = sent.headers["location"].rsplit("/", 1)[1]
    assert_escaped(technician.get(f"/requests/{number}"))
    portal.refuse(staff.manager, number, XSS)
    refused = technician.get(f"/requests/{number}")
    assert_escaped(refused)


def test_the_pass_code_forms_echoed_values_are_escaped(
    technician: httpx.Client, approved: RequestView
) -> None:
    path = f"/requests/{approved.number}"
    token = token_of(technician, path)
    for field in ("tool_version", "seed"):
        data = {"tool_version": TOOL, "seed": SEED, field: XSS}
        page = technician.post(f"{path}/pass-code", data={"csrf_token": token, **data})
        assert_page(page, 422)
        assert_escaped(page)
        assert CODE not in page.text
    closed = technician.post(f"{path}/close", data={"csrf_token": token, "note": XSS * 20})
    assert_page(closed, 422)  # over the note's length: echoed in the form again
    assert_escaped(closed)


def test_the_login_page_escapes_the_username_and_next(
    browser: httpx.Client, staff: Staffing
) -> None:
    page = browser.get("/login", params={"next": "/" + XSS})
    assert_escaped(page)
    wrong = browser.post(
        "/login",
        data={"csrf_token": csrf_of(page), "username": XSS, "password": "x", "next": "/" + XSS},
    )
    assert_page(wrong, 401)
    assert_escaped(wrong)
    assert "ecusim_session" not in wrong.headers.get("set-cookie", "")


def test_a_request_number_in_the_path_is_escaped_on_the_404_page(
    technician: httpx.Client,
) -> None:
    page = technician.get("/requests/%3Cscript%3Ex")
    assert_page(page, 404)
    assert "<script>x" not in page.text
    assert "&lt;script&gt;x" in page.text
    step = technician.get("/step-up", params={"next": "/" + XSS})
    assert_escaped(step)


# -- V4: another dealer's request numbers ---------------------------------------------------------


def test_another_dealers_technician_gets_the_same_404_as_for_no_request(
    outsider: httpx.Client, approved: RequestView, engine: Engine, portal: Portal, staff: Staffing
) -> None:
    before = snapshot(engine)
    token = csrf_of(outsider.get("/step-up"))
    answers = {}
    for number in (approved.number, "99999999"):
        answers[number] = [
            outsider.get(f"/requests/{number}"),
            outsider.post(
                f"/requests/{number}/pass-code",
                data={"csrf_token": token, "tool_version": TOOL, "seed": SEED},
            ),
            outsider.post(
                f"/requests/{number}/pass-code",
                data={
                    "csrf_token": token,
                    "tool_version": TOOL,
                    "seed": SEED,
                    "password": PASSWORD,
                },
            ),
            outsider.post(f"/requests/{number}/close", data={"csrf_token": token, "note": "x"}),
        ]
    for mine, none in zip(answers[approved.number], answers["99999999"], strict=True):
        assert_page(mine, 404)
        assert mine.text.replace(approved.number, "N") == none.text.replace("99999999", "N")
        assert VIN not in mine.text and CODE not in mine.text
    assert without_audit(snapshot(engine)) == without_audit(before)
    assert portal.get_request(staff.manager, approved.number).status == "approved"


# -- V3 / V4.2.2: the step-up window and the CSRF tokens ------------------------------------------


def test_no_pass_code_without_the_password_outside_the_window(
    base_url: str, approved: RequestView, staff: Staffing, engine: Engine
) -> None:
    with httpx.Client(base_url=base_url) as stepped, httpx.Client(base_url=base_url) as other:
        assert log_in(stepped, staff.technician).status_code == 303
        step_up(stepped)
        assert log_in(other, staff.technician).status_code == 303  # same user, no re-entry
        assert other.get("/requests/new").status_code == 303  # the window is per session
        path = f"/requests/{approved.number}"
        token = token_of(other, path)
        before = business(engine)
        for extra in ({}, {"password": ""}, {"password": "wrong"}):
            answer = other.post(
                f"{path}/pass-code",
                data={"csrf_token": token, "tool_version": TOOL, "seed": SEED, **extra},
            )
            assert answer.status_code == 401, answer.text
            assert CODE not in answer.text
        assert business(engine) == before


def test_the_login_forms_token_is_no_session_forms_token(
    technician: httpx.Client, approved: RequestView, engine: Engine
) -> None:
    login_token = csrf_of(technician.get("/login"))
    before = snapshot(engine)
    for path, data in (
        (f"/requests/{approved.number}/pass-code", {"tool_version": TOOL, "seed": SEED}),
        (f"/requests/{approved.number}/close", {}),
        (
            "/requests/new",
            {"vin": VIN2, "repair_order": "RO", "customer_last_name": "X", **BOXES, "step": "ok"},
        ),
        ("/step-up", {"password": PASSWORD}),
        ("/logout", {}),
    ):
        answer = technician.post(path, data={"csrf_token": login_token, **data})
        assert_page(answer, 403)
    assert snapshot(engine) == before


def test_a_session_forms_token_is_dead_after_logout(
    browser: httpx.Client, approved: RequestView, staff: Staffing, engine: Engine
) -> None:
    assert log_in(browser, staff.technician).status_code == 303
    old_token = token_of(browser, f"/requests/{approved.number}")
    old_cookie = browser.cookies["ecusim_session"]
    assert browser.post("/logout", data={"csrf_token": old_token}).status_code == 303
    before = business(engine)
    close = f"/requests/{approved.number}/close"
    dead = browser.post(close, data={"csrf_token": old_token})
    assert dead.status_code == 303 and dead.headers["location"].startswith("/login")
    browser.cookies.set("ecusim_session", old_cookie)  # the stolen cookie, replayed
    replayed = browser.post(close, data={"csrf_token": old_token})
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/login")
    browser.cookies.clear()
    assert log_in(browser, staff.technician).status_code == 303  # a new session
    stale = browser.post(close, data={"csrf_token": old_token})
    assert_page(stale, 403)
    assert business(engine) == before


# -- V13 / V14: bodies, methods, headers -----------------------------------------------------------


def post_paths(number: str) -> list[str]:
    return [
        "/login",
        "/logout",
        "/step-up",
        "/requests/new",
        f"/requests/{number}/pass-code",
        f"/requests/{number}/close",
    ]


def raw_post(client: httpx.Client, path: str, body: bytes, content_type: str) -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": content_type})


def test_the_method_override_field_and_header_are_ignored(
    technician: httpx.Client, approved: RequestView, engine: Engine
) -> None:
    before = snapshot(engine)
    path = f"/requests/{approved.number}/close"
    override = raw_post(technician, path, b"_method=DELETE", FORM)
    assert_page(override, 403)  # a POST without the token, nothing else
    header = technician.post(
        f"/requests/{approved.number}",
        data={"csrf_token": token_of(technician)},
        headers={"X-HTTP-Method-Override": "GET"},
    )
    assert_page(header, 405)
    assert snapshot(engine) == before


def test_control_characters_are_refused_next_to_their_field(
    technician: httpx.Client, approved: RequestView, engine: Engine
) -> None:
    token = token_of(technician)
    before = business(engine)
    for value in ("\x00", "A\r\nLocation: /x", "\x1b[2J"):
        for field in ("vin", "repair_order", "customer_last_name"):
            data = {"vin": VIN2, "repair_order": "RO", "customer_last_name": "X", **BOXES}
            data[field] = value
            answer = technician.post(
                "/requests/new", data={"csrf_token": token, **data, "step": "ok"}
            )
            assert_page(answer, 422)
            assert f'id="error-{field}"' in answer.text
        for field in ("tool_version", "seed"):
            data = {"tool_version": TOOL, "seed": SEED, field: value}
            answer = technician.post(
                f"/requests/{approved.number}/pass-code", data={"csrf_token": token, **data}
            )
            assert_page(answer, 422)
            assert CODE not in answer.text
        note = technician.post(
            f"/requests/{approved.number}/close", data={"csrf_token": token, "note": value}
        )
        assert_page(note, 422)
    assert business(engine) == before


def test_long_and_duplicate_fields_change_nothing(
    technician: httpx.Client, engine: Engine, portal: Portal, staff: Staffing
) -> None:
    """ASVS V5.1.1 (HTTP parameter pollution): of a field sent twice the last counts, and is
    checked like any other; 30 000 characters are refused next to the field."""
    token = token_of(technician)
    before = snapshot(engine)
    long = "A" * 30_000
    for field in ("vin", "repair_order", "customer_last_name"):
        data = {"vin": VIN2, "repair_order": "RO", "customer_last_name": "X", **BOXES, field: long}
        answer = technician.post("/requests/new", data={"csrf_token": token, **data, "step": "ok"})
        assert_page(answer, 422)
        assert f'id="error-{field}"' in answer.text
    login_token = csrf_of(technician.get("/login"))
    login = technician.post(
        "/login", data={"csrf_token": login_token, "username": long, "password": "x", "next": long}
    )
    assert_page(login, 422)
    assert 'id="error-username"' in login.text
    assert "ecusim_session" not in login.headers.get("set-cookie", "")
    polluted = "&".join(
        [
            f"csrf_token={token}&step=ok&repair_order=RO&customer_last_name=X",
            f"vin={VIN2}&vin=JTHBA1D29G500000X",  # the last: a bad check digit
            *(f"{box}=on" for box in BOXES),
        ]
    )
    dup = technician.post(
        "/requests/new", content=polluted.encode(), headers={"content-type": FORM}
    )
    assert_page(dup, 422)
    assert 'id="error-vin"' in dup.text
    assert snapshot(engine) == before


def test_pages_with_customer_data_are_never_cached_and_urls_carry_none(
    technician: httpx.Client, approved: RequestView
) -> None:
    token = token_of(technician)
    data = {"vin": VIN2, "repair_order": "RO-SECRET", "customer_last_name": "Secretname", **BOXES}
    answers = [
        technician.get("/requests/new"),
        technician.post("/requests/new", data={"csrf_token": token, **data, "step": "next"}),
        technician.post("/requests/new", data={"csrf_token": token, **data, "step": "ok"}),
        technician.get(f"/requests/{approved.number}"),
        technician.post(
            f"/requests/{approved.number}/pass-code",
            data={"csrf_token": token, "tool_version": TOOL, "seed": SEED},
        ),
        technician.post(f"/requests/{approved.number}/close", data={"csrf_token": token}),
        technician.get("/requests/nothing"),
    ]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store", answer.request.url
        location = answer.headers.get("location", "")
        for secret in (VIN, VIN2, "RO-SECRET", "Secretname", SEED, CODE, "RO-4711", "Smith"):
            assert secret.lower() not in location.lower()
        assert re.fullmatch(r"(/requests/\d+)?", location), location
    assert CODE in answers[4].text


def test_only_urlencoded_forms_are_taken(
    technician: httpx.Client, approved: RequestView, engine: Engine
) -> None:
    """ASVS V13.1.5: a body of another type is a 415 page, even with the right token (a
    multipart form would be parsed and acted on, its bad bytes stored as Latin-1)."""
    token = token_of(technician)
    before = snapshot(engine)
    boundary = "b0undary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\ndone\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    for path in post_paths(approved.number):
        for body, content_type in (
            (multipart, f"multipart/form-data; boundary={boundary}"),
            (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
            (b"a=b", "multipart/form-data"),  # no boundary
            (f'{{"csrf_token": "{token}"}}'.encode(), "application/json"),
            (f"csrf_token={token}".encode(), ""),
            (f"csrf_token={token}".encode(), "text/plain"),
        ):
            answer = raw_post(technician, path, body, content_type)
            assert_page(answer, 415)
    assert snapshot(engine) == before


def test_bytes_no_browser_sends_are_refused_not_stored(
    technician: httpx.Client, approved: RequestView, engine: Engine
) -> None:
    """ASVS V5.1.3: raw non-ASCII bytes or percent-escapes that are not UTF-8 are a 400 page
    (Starlette would store them as Latin-1 or U+FFFD: another customer name than typed)."""
    token = token_of(technician).encode()
    before = business(engine)
    for value in (b"\xff\xfe", b"%FF%FE", b"M\xc3\xbcller", b"%C3"):
        for field in (b"vin", b"repair_order", b"customer_last_name"):
            fields = {b"vin": VIN2.encode(), b"repair_order": b"RO", b"customer_last_name": b"X"}
            fields[field] = value
            body = b"&".join(
                [
                    b"csrf_token=" + token,
                    b"step=ok",
                    *(k + b"=" + v for k, v in fields.items()),
                    *(k.encode() + b"=on" for k in BOXES),
                ]
            )
            assert_page(raw_post(technician, "/requests/new", body, FORM), 400)
        issue = b"csrf_token=" + token + b"&tool_version=" + TOOL.encode() + b"&seed=" + value
        assert_page(
            raw_post(technician, f"/requests/{approved.number}/pass-code", issue, FORM), 400
        )
        note = b"csrf_token=" + token + b"&note=" + value
        assert_page(raw_post(technician, f"/requests/{approved.number}/close", note, FORM), 400)
        login = b"csrf_token=x&username=" + value + b"&password=x"
        assert_page(raw_post(technician, "/login", login, FORM), 400)
    assert business(engine) == before
    good = raw_post(
        technician,
        "/requests/new",
        b"csrf_token=" + token + b"&step=edit&customer_last_name=M%C3%BCller+Jr",
        FORM,
    )
    assert good.status_code == 200
    assert 'value="Müller Jr"' in good.text  # what a browser sends is taken as typed


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_pages_are_405_pages(
    technician: httpx.Client, approved: RequestView, engine: Engine, method: str
) -> None:
    before = snapshot(engine)
    for path in (*post_paths(approved.number), f"/requests/{approved.number}"):
        answer = technician.request(method, path, data={"csrf_token": token_of(technician)})
        assert_page(answer, 405)
        assert "allow" in answer.headers  # RFC 9110 §15.5.6
    assert snapshot(engine) == before


def test_head_of_a_page_is_a_405_page_naming_get(
    technician: httpx.Client, approved: RequestView
) -> None:
    """HEAD is not routed (FastAPI's GET routes take none): a precise 405, never a 500."""
    for path in ("/login", "/step-up", "/requests/new", f"/requests/{approved.number}"):
        answer = technician.head(path)
        assert answer.status_code == 405, (path, answer.status_code)
        assert "GET" in answer.headers["allow"]
        assert answer.content == b""
        assert answer.headers["cache-control"] == "no-store"


def test_a_body_over_the_limit_is_a_413_page_on_every_form(
    technician: httpx.Client, approved: RequestView, engine: Engine
) -> None:
    """ASVS V13.1.3: over 1 MB, declared or streamed, every form answers a 413 page, nothing is
    read past the limit and nothing changes."""
    before = snapshot(engine)
    token = token_of(technician)
    big = b"csrf_token=" + token.encode() + b"&note=" + b"x" * (1024 * 1024 + 1)
    for path in post_paths(approved.number):
        declared = technician.post(path, content=big, headers={"content-type": FORM})
        assert_page(declared, 413)

        def chunks() -> Iterator[bytes]:
            yield b"csrf_token=" + token.encode() + b"&note="
            for _ in range(20):
                yield b"y" * 65536

        streamed = technician.post(path, content=chunks(), headers={"content-type": FORM})
        assert_page(streamed, 413)
    api = technician.post("/api/v1/login", content=big, headers={"content-type": FORM})
    assert api.status_code == 413  # the API keeps its JSON error
    assert api.json()["error"]["status"] == 413
    assert snapshot(engine) == before
