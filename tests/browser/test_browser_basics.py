"""The pages every user meets, in a real browser: ``/docs`` offline, login and the password
re-entry, a form posted with another session's token, and a phone's width."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.browser_kit import (
    NARROW_WIDTH,
    click,
    horizontal_overflow,
    screenshot,
    wait_for,
)
from tests.browser.conftest import PASSWORD, ServedPortal
from tests.browser.pages import log_in, open_page, page_text, step_up


def test_docs_renders_the_apis_paths_with_no_network(
    served: ServedPortal, chromium: Callable[[str], WebDriver], tmp_path: Path
) -> None:
    driver = chromium("reader")
    open_page(driver, f"{served.url}/docs")
    # Swagger UI builds the operations list from /openapi.json with its own scripts: they are
    # the portal's files (every other host resolves to nothing in this browser)
    wait_for(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, '[data-path="/api/v1/login"]'),
        "the API's POST /api/v1/login in Swagger UI",
    )
    paths = {
        element.get_attribute("data-path")
        for element in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    assert {"/api/v1/login", "/api/v1/requests", "/api/v1/audit"} <= paths
    screenshot(driver, "docs", tmp_path)


def test_login_then_the_password_re_entry(
    served: ServedPortal, chromium: Callable[[str], WebDriver], tmp_path: Path
) -> None:
    driver = chromium("technician")
    open_page(driver, f"{served.url}/login?next=/step-up")
    screenshot(driver, "login", tmp_path)
    technician = served.dealer.technician
    log_in(driver, served.url, technician.username, "not the password", "/login")
    assert "wrong username or password" in page_text(driver)
    assert driver.find_element(By.ID, "username").get_attribute("value") == technician.username
    log_in(driver, served.url, technician.username, PASSWORD, "/step-up")
    assert technician.name in page_text(driver)
    screenshot(driver, "step-up", tmp_path)
    step_up(driver, "wrong again")
    assert "wrong" in driver.find_element(By.ID, "error-password").text
    step_up(driver, PASSWORD)
    session = next(iter(served.service.inbox(technician.username).my_requests), None)
    assert session is None  # nothing requested yet; the re-entry only opened the window


def test_a_form_with_another_sessions_token_changes_nothing_and_says_why(
    served: ServedPortal, chromium: Callable[[str], WebDriver]
) -> None:
    victim, attacker = chromium("victim"), chromium("attacker")
    manager, technician = served.dealer.managers[0], served.dealer.technician
    log_in(victim, served.url, manager.username, PASSWORD, "/step-up")
    log_in(attacker, served.url, technician.username, PASSWORD, "/step-up")
    stolen = attacker.find_element(By.NAME, "csrf_token").get_attribute("value")
    # the victim's logout form sent with the attacker's token: refused, the session lives on
    victim.execute_script(
        "document.querySelector('form[action=\"/logout\"] input[name=csrf_token]').value"
        " = arguments[0]",
        stolen,
    )
    click(victim, "logout")
    assert "Nothing was changed" in page_text(victim)
    assert "belongs to another session" in page_text(victim)
    # and without any token
    open_page(victim, f"{served.url}/step-up")
    victim.execute_script(
        "document.querySelector('form[action=\"/logout\"] input[name=csrf_token]').remove()"
    )
    click(victim, "logout")
    assert "the form has no security token" in page_text(victim)
    open_page(victim, f"{served.url}/step-up")
    assert "/step-up" in victim.current_url  # still logged in: not sent to /login
    assert manager.name in page_text(victim)


def test_the_pages_are_readable_at_a_phones_width(
    served: ServedPortal, chromium: Callable[[str], WebDriver]
) -> None:
    driver = chromium("phone")
    driver.set_window_size(NARROW_WIDTH, 844)
    for path in ("/login", "/docs"):
        open_page(driver, f"{served.url}{path}")
        assert horizontal_overflow(driver) == 0, path
    log_in(driver, served.url, served.dealer.technician.username, PASSWORD, "/step-up")
    assert horizontal_overflow(driver) == 0, "/step-up"
