"""The approving managers' pages over real HTTP (uvicorn on 127.0.0.1, real cookies): the
Monthly Vehicle Security Transaction Report and its CSV, the audit log with its verification,
and the NICB export (the bulletin: "Details of this transaction will be included in the Monthly
Vehicle Security Transaction Report sent to the Dealer GM. Also, a log of each transaction is
sent to the National Insurance Crime Bureau")."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import Engine, text

from ecusim.portal import reports
from ecusim.portal.errors import PortalError
from ecusim.portal.query_values import utc_query_time, year_month
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Portal, RequestView
from ecusim.portal.web.pages import reports as report_pages
from tests.portal.kit import DEALER, PASSWORD, VIN, Staffing
from tests.portal.web.pages_kit import log_in

SEED = "00010203-04050607-08090A0B-0C0D0E0F"
TOOL = "9.10.037"
RO, CUSTOMER = "RO-4711", "<script>alert('x')</script>"
CUSTOMER_DATA = (VIN, VIN.lower(), RO, CUSTOMER, "script", "alert")
MONTH = "2014-07"  # the kit's clock: 2014-07-01 20:27 UTC
PAGES = ("/reports/monthly", "/reports/monthly.csv", "/audit", "/reports/nicb", "/reports/nicb.csv")
OUT_OF_RANGE = "9999-12-31T23:59:59-01:00"
LONG_YEAR = "9" * 5000


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def issued(portal: Portal, staff: Staffing) -> RequestView:
    """A request (the customer's name an HTML tag), approved, a Pass-Code issued under it."""
    request = portal.create_request(
        staff.technician, VIN, RO, CUSTOMER, IdentificationConfirmations.all_confirmed()
    )
    portal.approve(staff.manager, request.number, ApprovalConfirmations.all_confirmed())
    portal.issue_pass_code(staff.technician, request.number, PASSWORD, TOOL, SEED)
    return portal.get_request(staff.manager, request.number)


@pytest.fixture
def manager(browser: httpx.Client, staff: Staffing) -> httpx.Client:
    """The browser, logged in as an approving manager."""
    assert log_in(browser, staff.manager).status_code == 303
    return browser


def element_text(page: httpx.Response, element_id: str) -> str:
    """The text of the element with ``id`` (no nested tags), unescaped."""
    found = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)<', page.text)
    assert found, f"no #{element_id} in {page.text}"
    return html.unescape(found.group(1)).strip()


def href_of(page: httpx.Response, element_id: str) -> str:
    found = re.search(rf'id="{re.escape(element_id)}"[^>]*href="([^"]*)"', page.text)
    assert found, f"no link #{element_id} in {page.text}"
    return html.unescape(found.group(1))


def links_of(page: httpx.Response) -> list[str]:
    """Every URL the page links to or sends a form to."""
    return [html.unescape(url) for url in re.findall(r'(?:href|action|src)="([^"]*)"', page.text)]


def reason_of(action: Callable[[], object]) -> str:
    """What the service (or the shared query parsing) says about it: the API's words."""
    with pytest.raises(PortalError) as caught:
        action()
    return caught.value.reason


def csv_rows(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text)))


def assert_attachment(response: httpx.Response, name: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert response.headers["cache-control"] == "no-store"  # customer data (ASVS V8.2.1)


# -- the monthly report --------------------------------------------------------------------------


def test_the_monthly_report_shows_the_months_transactions_escaped(
    manager: httpx.Client, issued: RequestView
) -> None:
    page = manager.get("/reports/monthly")  # default: the month of the portal's clock
    assert page.status_code == 200
    assert re.search(rf'id="month"[^>]*value="{MONTH}"', page.text)
    assert "Lexus of Lab City" in element_text(page, "report-title")
    assert "<script>alert" not in page.text  # the customer's name is text, not markup
    assert str(escape(CUSTOMER)) in page.text
    table = page.text[page.text.index('id="report-table"') :]
    for action in ("request", "approve", "issue"):
        assert f"<td>{action}</td>" in table
    assert table.count(f"<td>{VIN}</td>") == 3
    assert f">{issued.number}</a>" in table
    assert "Pass-codes issued: 1" in page.text


def test_the_month_picker_shows_another_month(manager: httpx.Client, issued: RequestView) -> None:
    page = manager.get("/reports/monthly", params={"month": "2014-06"})
    assert page.status_code == 200
    assert element_text(page, "no-transactions") == "No transactions this month."
    assert re.search(r'<form method="get" action="/reports/monthly"[^>]*>', page.text)
    assert href_of(page, "download-csv") == "/reports/monthly.csv?month=2014-06"


def test_the_csv_download_is_the_reports_csv_as_an_attachment(
    manager: httpx.Client, issued: RequestView, portal: Portal, staff: Staffing
) -> None:
    link = href_of(manager.get("/reports/monthly"), "download-csv")
    assert link == f"/reports/monthly.csv?month={MONTH}"
    download = manager.get(link)
    assert_attachment(download, f"monthly-report-{DEALER}-{MONTH}.csv")
    expected = reports.monthly_report_csv(portal.monthly_report(staff.manager, DEALER, 2014, 7))
    assert download.text == expected
    rows = csv_rows(download)
    assert tuple(rows[0]) == reports.MONTHLY_COLUMNS
    request_row = dict(zip(reports.MONTHLY_COLUMNS, rows[1], strict=True))
    assert request_row["action"] == "request"
    assert request_row["request_number"] == issued.number
    assert request_row["vin"] == VIN
    assert request_row["customer_last_name"] == CUSTOMER  # CSV holds the name as typed
    assert [row[2] for row in rows[1:]] == ["request", "approve", "issue"]


# -- the audit log -------------------------------------------------------------------------------


def test_the_audit_page_says_intact_and_lists_the_dealers_records(
    manager: httpx.Client, issued: RequestView, portal: Portal, staff: Staffing
) -> None:
    page = manager.get("/audit")
    assert page.status_code == 200
    assert element_text(page, "audit-status") == "audit log intact"
    assert page.text.index('id="audit-verification"') < page.text.index('id="audit-table"')
    records = portal.audit_records(staff.manager)
    assert records
    for record in records:
        assert f'id="record-{record.seq}"' in page.text
        assert str(escape(record.details)) in page.text
    assert "<script>alert" not in page.text


def test_after_tampering_the_audit_page_shows_the_problem(
    manager: httpx.Client, issued: RequestView, portal: Portal, staff: Staffing, engine: Engine
) -> None:
    target = portal.audit_records(staff.manager)[-1].seq
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_record SET details = :details WHERE seq = :seq"),
            {"details": '{"tool_version":"0.0.1"}', "seq": target},
        )
    page = manager.get("/audit")
    assert page.status_code == 200
    assert element_text(page, "audit-status") == "audit log BROKEN: 1 problem(s)"
    (problem,) = portal.verify_audit(staff.manager).problems
    assert problem.seq == target and problem.problem.startswith("edited")
    assert str(escape(f"record {target}: {problem.problem}")) in page.text


def test_the_audit_cursor_walks_every_record_with_next_links(
    manager: httpx.Client,
    issued: RequestView,
    portal: Portal,
    staff: Staffing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(report_pages, "PAGE_RECORDS", 2)  # the server runs in this process
    every = [record.seq for record in portal.audit_records(staff.manager)]
    assert len(every) > 4
    newest = manager.get("/audit")
    assert re.findall(r'id="record-(\d+)"', newest.text) == [str(seq) for seq in every[-2:]]
    assert 'id="next"' not in newest.text
    seen: list[int] = []
    link: str | None = href_of(newest, "first")
    assert link == "/audit?since_seq=0"
    while link is not None:
        page = manager.get(link)
        assert page.status_code == 200
        seen += [int(seq) for seq in re.findall(r'id="record-(\d+)"', page.text)]
        link = href_of(page, "next") if 'id="next"' in page.text else None
    assert seen == every


# -- the NICB export -----------------------------------------------------------------------------


def test_the_nicb_form_defaults_to_this_month_and_downloads_the_export(
    manager: httpx.Client, issued: RequestView, portal: Portal, staff: Staffing
) -> None:
    form = manager.get("/reports/nicb")
    assert form.status_code == 200
    assert re.search(r'<form method="get" action="/reports/nicb.csv"', form.text)
    assert re.search(r'id="since"[^>]*value="2014-07-01"', form.text)
    assert re.search(r'id="until"[^>]*value="2014-08-01"', form.text)
    download = manager.get(
        "/reports/nicb.csv", params={"since": "2014-07-01", "until": "2014-08-01"}
    )
    assert_attachment(download, "nicb-log-20140701T000000Z-20140801T000000Z.csv")
    start, end = datetime(2014, 7, 1, tzinfo=UTC), datetime(2014, 8, 1, tzinfo=UTC)
    assert download.text == reports.nicb_csv(portal.nicb_export(staff.manager, start, end))
    rows = csv_rows(download)
    assert tuple(rows[0]) == reports.NICB_COLUMNS
    actions = [row[3] for row in rows[1:]]
    assert actions[:3] == ["request", "approve", "issue"] and actions[-1] == reports.HEAD_ACTION
    assert all(row[4] == VIN for row in rows[1:4])


# -- who may see them, and malformed values ------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_technician_is_refused_in_the_services_words(
    browser: httpx.Client, staff: Staffing, portal: Portal, issued: RequestView, path: str
) -> None:
    assert log_in(browser, staff.technician).status_code == 303
    reason = reason_of(lambda: portal.require_manager(staff.technician))
    for query in ({}, {"month": LONG_YEAR, "since": "", "until": OUT_OF_RANGE}):
        page = browser.get(path, params=query)  # the right is checked before the query is read
        assert page.status_code == 403, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert element_text(page, "error-page") == reason
        assert VIN not in page.text


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_need_a_login(browser: httpx.Client, path: str) -> None:
    page = browser.get(path)
    assert page.status_code == 303
    assert page.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", ["/reports/monthly", "/reports/monthly.csv"])
@pytest.mark.parametrize(
    "month", ["", "2014-13", "2014-0", "\uff11\uff12\uff13\uff14-07", "1999-12"]
)
def test_a_bad_month_is_a_422_page_next_to_the_field(
    manager: httpx.Client, path: str, month: str
) -> None:
    def parse() -> object:
        year, number = year_month(month)
        return reports.month_bounds(year, number)

    page = manager.get(path, params={"month": month})
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert element_text(page, "error-month") == reason_of(parse)
    assert re.search(r'id="month"[^>]*aria-invalid="true"', page.text)


@pytest.mark.parametrize("path", ["/reports/nicb", "/reports/nicb.csv"])
@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize("value", ["", OUT_OF_RANGE, "2014-13-01", "yesterday"])
def test_a_bad_since_or_until_is_a_422_page_next_to_the_field(
    manager: httpx.Client, path: str, field: str, value: str
) -> None:
    query = {"since": "2014-07-01", "until": "2014-08-01", field: value}
    page = manager.get(path, params=query)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert element_text(page, f"error-{field}") == reason_of(lambda: utc_query_time(value, field))
    assert re.search(rf'id="{field}"[^>]*value="{re.escape(str(escape(value)))}"', page.text)


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/reports/monthly", "month", f"{LONG_YEAR}-07"),
        ("/reports/monthly.csv", "month", f"{LONG_YEAR}-07"),
        ("/reports/nicb", "since", f"{LONG_YEAR}-07-01"),
        ("/reports/nicb.csv", "until", f"{LONG_YEAR}-07-01"),
        ("/audit", "since_seq", LONG_YEAR),
        ("/audit", "since_seq", "-1"),
        ("/audit", "since_seq", "seven"),
    ],
)
def test_an_oversized_or_malformed_query_is_a_422_page_naming_the_field(
    manager: httpx.Client, path: str, field: str, value: str
) -> None:
    page = manager.get(path, params={field: value})
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert element_text(page, "error-page").startswith(f"{field}: ")
    assert LONG_YEAR not in page.text


def test_no_customer_data_in_any_url_the_pages_link_to(
    manager: httpx.Client, issued: RequestView
) -> None:
    for path in ("/reports/monthly", "/audit", "/audit?since_seq=0", "/reports/nicb"):
        page = manager.get(path)
        assert page.status_code == 200
        urls = links_of(page)
        assert "/reports/monthly.csv?month=2014-07" in urls or path != "/reports/monthly"
        for url in urls:
            assert not any(data.lower() in url.lower() for data in CUSTOMER_DATA), url
