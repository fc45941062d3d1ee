"""The pages' login, logout and password re-entry over real HTTP (uvicorn on 127.0.0.1): the
cookie session, the CSRF tokens, the security headers and offline ``/docs``."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ecusim.portal.models import LoginSession
from ecusim.portal.service import Portal
from ecusim.portal.web.headers import CONTENT_SECURITY_POLICY
from tests.portal.kit import PASSWORD, Staffing
from tests.portal.web.pages_kit import csrf_of, log_in


def sessions(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(LoginSession)) or 0


def test_a_good_login_sets_an_httponly_strict_cookie_of_a_server_side_session(
    browser: httpx.Client, staff: Staffing, engine: Engine
) -> None:
    page = browser.get("/login")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "ecusim_login=" in page.headers["set-cookie"]
    before = sessions(engine)
    response = browser.post(
        "/login",
        data={
            "csrf_token": csrf_of(page),
            "username": staff.technician,
            "password": PASSWORD,
            "next": "/requests/new",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/requests/new"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "ecusim_session=" in c)
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert f"max-age={8 * 3600}" in attributes  # the session lifetime, relative to now
    assert "secure" not in attributes  # plain HTTP on 127.0.0.1; set over TLS
    assert sessions(engine) == before + 1
    # the login form's nonce cookie is deleted with the same attributes it was set with
    deleted = next(c for c in response.headers.get_list("set-cookie") if "ecusim_login=" in c)
    deletion = {part.strip().lower() for part in deleted.split(";")}
    assert {"max-age=0", "httponly", "samesite=strict", "path=/"} <= deletion
    # the cookie is not a bearer token: the API does not take it (no CSRF on the API)
    assert browser.get("/api/v1/me").status_code == 401


def test_a_wrong_password_is_shown_on_the_form_with_the_apis_words(
    browser: httpx.Client, staff: Staffing, engine: Engine
) -> None:
    response = log_in(browser, staff.technician, "not the password")
    assert response.status_code == 401
    assert "wrong username or password" in response.text
    assert f'value="{staff.technician}"' in response.text  # what was typed is kept
    assert sessions(engine) == 0


def test_the_login_throttle_answers_429_with_retry_after_on_the_page(
    browser: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    statuses = [
        log_in(browser, staff.technician, "wrong").status_code
        for _ in range(portal.settings.login_failure_budget)
    ]
    assert statuses == [401] * portal.settings.login_failure_budget
    blocked = log_in(browser, staff.technician)  # the right password, inside the window
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


@pytest.mark.parametrize(
    "forged",
    [
        {},  # no token at all
        {"csrf_token": ""},
        {"csrf_token": "0" * 64},
    ],
)
def test_a_login_post_without_the_forms_token_opens_no_session(
    browser: httpx.Client, staff: Staffing, engine: Engine, forged: dict[str, str]
) -> None:
    browser.get("/login")  # the nonce cookie is there; the token is not
    response = browser.post(
        "/login", data={**forged, "username": staff.technician, "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "nothing was changed" in response.text
    assert sessions(engine) == 0


def test_a_login_token_of_another_browser_is_refused(
    base_url: str, staff: Staffing, engine: Engine
) -> None:
    with httpx.Client(base_url=base_url) as attacker, httpx.Client(base_url=base_url) as victim:
        token = csrf_of(attacker.get("/login"))
        victim.get("/login")  # the victim's own nonce
        response = victim.post(
            "/login",
            data={"csrf_token": token, "username": staff.technician, "password": PASSWORD},
        )
    assert response.status_code == 403
    assert sessions(engine) == 0


def test_a_cross_site_origin_is_refused(
    browser: httpx.Client, staff: Staffing, engine: Engine
) -> None:
    token = csrf_of(browser.get("/login"))
    response = browser.post(
        "/login",
        data={"csrf_token": token, "username": staff.technician, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert sessions(engine) == 0


def test_a_login_posted_the_way_chromium_posts_it_is_taken(
    browser: httpx.Client, staff: Staffing, engine: Engine
) -> None:
    # Chromium sends "Origin: null" on a form POST from a page whose Referrer-Policy is
    # no-referrer (Fetch standard: origin serialization), and Sec-Fetch-Site: same-origin
    token = csrf_of(browser.get("/login"))
    response = browser.post(
        "/login",
        data={"csrf_token": token, "username": staff.technician, "password": PASSWORD},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 303
    assert sessions(engine) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null"},  # a sandboxed frame of another site, an old browser
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling host: another site for the portal
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},
    ],
)
def test_a_login_from_another_site_is_refused(
    browser: httpx.Client, staff: Staffing, engine: Engine, headers: dict[str, str]
) -> None:
    token = csrf_of(browser.get("/login"))
    response = browser.post(
        "/login",
        data={"csrf_token": token, "username": staff.technician, "password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 403
    assert sessions(engine) == 0


def test_pages_send_their_origin_on_their_own_forms(browser: httpx.Client) -> None:
    # same-origin: the browser's Origin header names the portal on its own forms (checked
    # above), and no URL of the portal is sent to another site as a Referer
    assert browser.get("/login").headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/",
        "\\\\evil",
        # a browser drops tab, newline and carriage return from a URL (WHATWG URL parser), so
        # "/\t/evil.example" arrives as "//evil.example": another host
        "/\t/evil.example/x",
        "/\n/evil.example/x",
        "/\r/evil.example/x",
        "/\x7f/evil.example/x",
    ],
)
def test_next_never_leaves_the_portal(browser: httpx.Client, staff: Staffing, target: str) -> None:
    token = csrf_of(browser.get("/login"))
    response = browser.post(
        "/login",
        data={
            "csrf_token": token,
            "username": staff.technician,
            "password": PASSWORD,
            "next": target,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"


def test_a_page_without_a_session_sends_the_browser_to_log_in(browser: httpx.Client) -> None:
    response = browser.get("/step-up")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/step-up"


def test_logout_needs_the_sessions_token_then_ends_the_session(
    browser: httpx.Client, base_url: str, staff: Staffing, engine: Engine, portal: Portal
) -> None:
    assert log_in(browser, staff.technician).status_code == 303
    token = browser.cookies["ecusim_session"]
    refused = browser.post("/logout", data={})
    assert refused.status_code == 403
    assert portal.session(token).user.username == staff.technician  # still live
    page = browser.get("/step-up")
    response = browser.post("/logout", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    with httpx.Client(base_url=base_url) as api:
        me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


def test_another_sessions_csrf_token_is_refused(
    base_url: str, staff: Staffing, portal: Portal
) -> None:
    with httpx.Client(base_url=base_url) as mine, httpx.Client(base_url=base_url) as theirs:
        assert log_in(mine, staff.technician).status_code == 303
        assert log_in(theirs, staff.manager).status_code == 303
        their_token = csrf_of(theirs.get("/step-up"))
        response = mine.post("/logout", data={"csrf_token": their_token})
        assert response.status_code == 403
        assert "belongs to another session" in response.text
        assert portal.session(mine.cookies["ecusim_session"]).user.username == staff.technician


def test_the_password_re_entry_opens_the_step_up_window(
    browser: httpx.Client, staff: Staffing, portal: Portal
) -> None:
    assert log_in(browser, staff.technician).status_code == 303
    page = browser.get("/step-up?next=/requests/new")
    assert page.status_code == 200
    assert 'value="/requests/new"' in page.text
    wrong = browser.post(
        "/step-up",
        data={"csrf_token": csrf_of(page), "password": "nope", "next": "/requests/new"},
    )
    assert wrong.status_code == 401
    assert 'id="error-password"' in wrong.text
    token = browser.cookies["ecusim_session"]
    assert not portal.session(token).stepped_up(portal.now())
    right = browser.post(
        "/step-up",
        data={"csrf_token": csrf_of(page), "password": PASSWORD, "next": "/requests/new"},
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/requests/new"
    assert portal.session(token).stepped_up(portal.now())


def test_docs_are_served_from_the_portals_own_files(browser: httpx.Client) -> None:
    page = browser.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, page.text
    for source in sources:
        assert source.startswith("/static/"), source  # nothing from a CDN
        assert browser.get(source).status_code == 200, source
    assert browser.get("/openapi.json").json()["paths"]


def test_unknown_pages_answer_html_and_unknown_api_paths_json(browser: httpx.Client) -> None:
    page = browser.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = browser.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.json()["error"]["status"] == 404
