"""Helpers of the page tests: a browser's CSRF token, logging in and the password re-entry, over
real HTTP (the fixtures ``base_url`` and ``browser`` are in ``conftest.py``)."""

from __future__ import annotations

import re

import httpx

from tests.portal.kit import PASSWORD

__all__ = ["csrf_of", "log_in", "step_up"]

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token of the (first) form on ``page``."""
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def log_in(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """Log ``client`` in through the login page (the answer: 303 to the inbox)."""
    token = csrf_of(client.get("/login"))
    return client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password, "next": "/inbox"},
    )


def step_up(client: httpx.Client, next_path: str = "/inbox") -> httpx.Response:
    """Re-enter the password through the step-up page (the answer: 303 to ``next_path``)."""
    page = client.get(f"/step-up?next={next_path}")
    response = client.post(
        "/step-up",
        data={"csrf_token": csrf_of(page), "password": PASSWORD, "next": next_path},
    )
    assert response.status_code == 303, response.text
    return response
