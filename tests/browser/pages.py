"""Steps a user takes on the portal's pages, in a browser (the ids are the pages' own)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.browser_kit import click, fill, wait_for

__all__ = ["log_in", "open_page", "page_text", "step_up", "tick"]


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait_for(
        driver,
        lambda d: d.execute_script("return document.readyState") == "complete",
        f"{url} loaded",
    )


def page_text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def log_in(
    driver: WebDriver,
    base_url: str,
    username: str,
    password: str,
    next_path: str,
    *,
    lands_on: str | None = None,
) -> None:
    """Log in on ``/login?next=…`` and land on ``lands_on`` (default ``next_path``)."""
    open_page(driver, f"{base_url}/login?next={next_path}")
    fill(driver, username=username, password=password)
    click(driver, "log-in")
    landed = lands_on if lands_on is not None else next_path
    assert driver.current_url.startswith(f"{base_url}{landed}"), page_text(driver)


def tick(driver: WebDriver, *element_ids: str) -> None:
    """Tick these checkboxes (left ticked if they are)."""
    for element_id in element_ids:
        box = driver.find_element(By.ID, element_id)
        if not box.is_selected():
            box.click()


def step_up(driver: WebDriver, password: str) -> None:
    """Re-enter the password on the ``/step-up`` page the browser is on."""
    assert "/step-up" in driver.current_url, driver.current_url
    fill(driver, password=password)
    click(driver, "continue")
