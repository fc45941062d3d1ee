"""Driving Debian's Chromium with Selenium and Debian's ``chromium-driver`` (no browser download).

Chromium runs headless with a fresh profile in the test's temporary folder and with every host
name but ``127.0.0.1`` resolving to nothing (``--host-resolver-rules``), so a page that needed
the internet (a CDN) would fail here as on an offline machine. Without the two programs the
browser tests are skipped, unless ``ECUSIM_REQUIRE_BROWSER`` is set (``.ci/run`` sets it): then
they fail, saying what is missing.

Screenshots: :func:`screenshot` saves a full-page PNG named after the page into the folder of
``ECUSIM_SCREENSHOT_DIR`` (the docs' pictures come from here: ``docs/portal.md`` says how), else
into the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

__all__ = [
    "CHROMEDRIVER",
    "CHROMIUM",
    "NARROW_WIDTH",
    "PAGE_TIMEOUT_S",
    "SCREENSHOT_DIR_ENV_VAR",
    "click",
    "fill",
    "horizontal_overflow",
    "require_browser",
    "screenshot",
    "start_chromium",
    "text_of",
    "wait_for",
]

CHROMIUM: Final = os.environ.get("ECUSIM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER: Final = os.environ.get("ECUSIM_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE_ENV_VAR: Final = "ECUSIM_REQUIRE_BROWSER"
SCREENSHOT_DIR_ENV_VAR: Final = "ECUSIM_SCREENSHOT_DIR"
PAGE_TIMEOUT_S: Final = 30.0
"""Bound of any wait on the page (scrypt and SQLite on a busy 2-core machine)."""
DESKTOP_SIZE: Final = (1100, 900)
NARROW_WIDTH: Final = 390
"""A phone's width in CSS pixels (the pages must be readable without scrolling sideways)."""
_CHROMIUM_FLAGS: Final = (
    "--headless=new",
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def require_browser() -> None:
    """Skip (or fail, under ``ECUSIM_REQUIRE_BROWSER``) when Chromium or its driver is absent."""
    missing = [
        path for path in (CHROMIUM, CHROMEDRIVER) if not (Path(path).exists() or shutil.which(path))
    ]
    if not missing:
        return
    message = (
        f"the browser tests need Debian's chromium and chromium-driver ({', '.join(missing)} "
        "not found): apt-get install chromium chromium-driver"
    )
    if os.environ.get(REQUIRE_ENV_VAR):
        pytest.fail(message)
    pytest.skip(message)


def start_chromium(profile: Path) -> WebDriver:
    """A headless Chromium with an empty profile in ``profile``, offline but for 127.0.0.1."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in _CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={DESKTOP_SIZE[0]},{DESKTOP_SIZE[1]}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    return driver


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], object], what: str) -> None:
    """Wait (bounded by :data:`PAGE_TIMEOUT_S`) until ``condition`` holds; fail naming ``what``."""
    try:
        WebDriverWait(driver, PAGE_TIMEOUT_S).until(condition)
    except TimeoutException:
        pytest.fail(f"{what}: not seen within {PAGE_TIMEOUT_S} s on {driver.current_url}")


def fill(driver: WebDriver, **fields: str) -> None:
    """Type into the inputs with these ids (cleared first)."""
    for element_id, value in fields.items():
        element = driver.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(value)


def click(driver: WebDriver, element_id: str) -> None:
    """Click the element with this id and wait until the next page has loaded."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()

    def replaced(current: WebDriver) -> bool:
        try:
            old.tag_name  # noqa: B018 - raises once the page is replaced
        except StaleElementReferenceException:
            return bool(current.execute_script("return document.readyState") == "complete")
        except WebDriverException:  # mid-navigation ("node does not belong to the document")
            return False
        return False

    wait_for(driver, replaced, f"the page after clicking #{element_id}")


def text_of(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def horizontal_overflow(driver: WebDriver) -> int:
    """How many CSS pixels the page is wider than the window (0: nothing scrolls sideways)."""
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return int(overflow)


def screenshot(driver: WebDriver, name: str, fallback: Path) -> Path:
    """Save the whole page as ``<name>.png`` (see the module's docstring for where)."""
    folder = Path(os.environ.get(SCREENSHOT_DIR_ENV_VAR) or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(size["width"], max(height + 120, 400))
    driver.execute_script("window.scrollTo(0, 0)")
    path = folder / f"{name}.png"
    try:
        assert driver.find_element(By.TAG_NAME, "body").screenshot(str(path)), path
    finally:
        driver.set_window_size(size["width"], size["height"])
    return path
