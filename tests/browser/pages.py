"""Steps a user takes on the portal's pages, in a browser (the ids are the pages' own)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.browser_kit import click, fill, wait_for

__all__ = ["log_in", "open_page", "page_text", "step_up"]


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait_for(
        driver,
        lambda d: d.execute_script("return document.readyState") == "complete",
        f"{url} loaded",
    )


def page_text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def log_in(driver: WebDriver, base_url: str, username: str, password: str, next_path: str) -> None:
    """Log in on ``/login?next=…`` and land on ``next_path``."""
    open_page(driver, f"{base_url}/login?next={next_path}")
    fill(driver, username=username, password=password)
    click(driver, "log-in")
    assert driver.current_url.startswith(f"{base_url}{next_path}"), page_text(driver)


def step_up(driver: WebDriver, password: str) -> None:
    """Re-enter the password on the ``/step-up`` page the browser is on."""
    assert "/step-up" in driver.current_url, driver.current_url
    fill(driver, password=password)
    click(driver, "continue")
