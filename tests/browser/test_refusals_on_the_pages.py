"""Each rule's refusal seen on the page next to its field, a state-changing form posted without
its CSRF token, and the pages at a phone's width, in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from ecusim.portal.errors import ValidationError
from ecusim.portal.rules import IdentificationConfirmations, validate_seed, validate_vin_field
from tests.acceptance.acceptance_kit import VIN
from tests.browser.browser_kit import (
    NARROW_WIDTH,
    click,
    fill,
    horizontal_overflow,
    screenshot,
    text_of,
)
from tests.browser.conftest import PASSWORD, ServedPortal
from tests.browser.pages import log_in, open_page, page_text, step_up, tick
from tests.browser.test_bulletin_variations import APPROVAL_BOXES, IDENTIFICATION_BOXES


def reason_of(check: Callable[[], object]) -> str:
    """The words the service's rule refuses with (what the page must show)."""
    try:
        check()
    except ValidationError as exc:
        return exc.reason
    raise AssertionError("the rule accepted it")


def test_each_refusal_is_shown_next_to_its_field_keeping_what_was_typed(
    served: ServedPortal, chromium: Callable[[str], WebDriver], tmp_path: Path
) -> None:
    technician_user, manager_user = served.dealer.technician, served.dealer.managers[0]
    technician = chromium("technician")
    log_in(technician, served.url, technician_user.username, PASSWORD, "/requests/new",
           lands_on="/step-up")  # fmt: skip
    step_up(technician, PASSWORD)
    wrong_vin = VIN[:-1] + ("2" if VIN[-1] != "2" else "3")
    fill(technician, vin=wrong_vin, repair_order="RO-1", customer_last_name="Smith")
    tick(technician, *IDENTIFICATION_BOXES)
    click(technician, "next")
    assert text_of(technician, "error-vin") == reason_of(lambda: validate_vin_field(wrong_vin))
    assert technician.find_element(By.ID, "vin").get_attribute("value") == wrong_vin
    assert technician.find_element(By.ID, "repair_order").get_attribute("value") == "RO-1"
    screenshot(technician, "request-form-refused", tmp_path)
    assert served.service.inbox(technician_user.username).my_requests == ()

    # the manager: approving without the three boxes is refused next to them, nothing changes
    request = served.service.create_request(
        technician_user.username, VIN, "RO-2", "Smith", IdentificationConfirmations.all_confirmed()
    )
    manager = chromium("manager")
    log_in(manager, served.url, manager_user.username, PASSWORD, f"/inbox/{request.number}")
    tick(manager, APPROVAL_BOXES[0])
    click(manager, "approve")
    refusals = [element.text for element in manager.find_elements(By.CSS_SELECTOR, "[role=alert]")]
    assert refusals == [f"must be confirmed: {APPROVAL_BOXES[1].replace('_', ' ')}"]
    assert manager.find_element(By.ID, APPROVAL_BOXES[0]).is_selected()  # kept
    assert served.service.get_request(manager_user.username, request.number).status == "requested"
    tick(manager, *APPROVAL_BOXES)
    click(manager, "approve")

    # the technician: a malformed Seed Number on the approval file
    open_page(technician, f"{served.url}/requests/{request.number}")
    fill(technician, tool_version="9.10.037", seed="12345678-XYZ")
    if technician.find_elements(By.ID, "password"):
        fill(technician, password=PASSWORD)
    click(technician, "next")
    assert text_of(technician, "error-seed") == reason_of(lambda: validate_seed("12345678-XYZ"))
    assert technician.find_element(By.ID, "seed").get_attribute("value") == "12345678-XYZ"
    assert not technician.find_elements(By.ID, "pass-code")


def test_an_approval_posted_without_its_csrf_token_changes_nothing(
    served: ServedPortal, chromium: Callable[[str], WebDriver]
) -> None:
    technician_user, manager_user = served.dealer.technician, served.dealer.managers[0]
    request = served.service.create_request(
        technician_user.username, VIN, "RO-3", "Smith", IdentificationConfirmations.all_confirmed()
    )
    manager = chromium("manager")
    log_in(manager, served.url, manager_user.username, PASSWORD, f"/inbox/{request.number}")
    tick(manager, *APPROVAL_BOXES)
    manager.execute_script(
        "document.querySelectorAll('form input[name=csrf_token]').forEach(e => e.remove())"
    )
    click(manager, "approve")
    assert "Nothing was changed" in page_text(manager)
    assert "the form has no security token" in page_text(manager)
    assert served.service.get_request(manager_user.username, request.number).status == "requested"


def test_the_inbox_and_the_approval_file_are_readable_at_a_phones_width(
    served: ServedPortal, chromium: Callable[[str], WebDriver]
) -> None:
    technician_user, manager_user = served.dealer.technician, served.dealer.managers[0]
    request = served.service.create_request(
        technician_user.username, VIN, "RO-5", "Smith", IdentificationConfirmations.all_confirmed()
    )
    manager = chromium("manager-phone")
    manager.set_window_size(NARROW_WIDTH, 844)
    log_in(manager, served.url, manager_user.username, PASSWORD, "/inbox")
    for path in ("/inbox", f"/inbox/{request.number}"):
        open_page(manager, f"{served.url}{path}")
        assert horizontal_overflow(manager) == 0, path
    technician = chromium("technician-phone")
    technician.set_window_size(NARROW_WIDTH, 844)
    log_in(technician, served.url, technician_user.username, PASSWORD, "/requests/new",
           lands_on="/step-up")  # fmt: skip
    step_up(technician, PASSWORD)
    for path in ("/requests/new", f"/requests/{request.number}", "/inbox"):
        open_page(technician, f"{served.url}{path}")
        assert horizontal_overflow(technician) == 0, path


def test_the_managers_reports_in_the_browser(
    served: ServedPortal, chromium: Callable[[str], WebDriver], tmp_path: Path
) -> None:
    technician_user, manager_user = served.dealer.technician, served.dealer.managers[0]
    request = served.service.create_request(
        technician_user.username, VIN, "RO-6", "Smith", IdentificationConfirmations.all_confirmed()
    )
    manager = chromium("manager")
    log_in(manager, served.url, manager_user.username, PASSWORD, "/reports/monthly")
    assert request.number in page_text(manager)
    assert manager.find_element(By.ID, "download-csv").get_attribute("href")
    screenshot(manager, "monthly-report", tmp_path)
    open_page(manager, f"{served.url}/audit")
    assert "audit log intact" in text_of(manager, "audit-verification")
    screenshot(manager, "audit-log", tmp_path)
    open_page(manager, f"{served.url}/reports/nicb")
    screenshot(manager, "nicb-export", tmp_path)
    manager.set_window_size(NARROW_WIDTH, 844)
    for path in ("/reports/monthly", "/audit", "/reports/nicb"):
        open_page(manager, f"{served.url}{path}")
        assert horizontal_overflow(manager) == 0, path
    technician = chromium("technician")
    log_in(technician, served.url, technician_user.username, PASSWORD, "/reports/monthly")
    # the Dealer GM's report is for approving managers: the service's words
    assert f"{technician_user.username} (Technician) is not an approving manager" in page_text(
        technician
    )
