"""NICB transaction-log export and the Monthly Vehicle Security Transaction Report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ecusim.portal import reports
from ecusim.portal.errors import NotFoundError
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.service import Portal, RequestView, seed_sha256
from protocol.clock import FakeClock

from .kit import DEALER, PASSWORD, VIN, Staffing, make_request

SEED = bytes(range(16))


@pytest.fixture
def july(portal: Portal, staff: Staffing, approved: RequestView, clock: FakeClock) -> RequestView:
    portal.issue_pass_code("carol", approved.number, PASSWORD, "9.10.037", SEED.hex())
    other = make_request(portal, "erin", "JTHBA1D29G5000002")  # the other dealer
    portal.refuse("frank", other.number, '=HYPERLINK("x")')
    clock.advance(31 * 86400)  # August
    late = make_request(portal, "dave", "JTHBA1D29G5000002")
    portal.approve("bob", late.number, ApprovalConfirmations.all_confirmed())
    return approved


def test_nicb_export(engine: Engine, july: RequestView) -> None:
    with Session(engine) as session:
        rows = reports.transactions(
            session, datetime(2014, 7, 1, tzinfo=UTC), datetime(2014, 8, 1, tzinfo=UTC)
        )
    table = list(csv.DictReader(io.StringIO(reports.nicb_csv(rows))))
    assert [(r["dealer_code"], r["action"]) for r in table] == [
        (DEALER, "request"),
        (DEALER, "approve"),
        (DEALER, "issue"),
        ("64001", "request"),
        ("64001", "refuse"),
    ]
    issue = table[2]
    assert issue["vin"] == VIN
    assert issue["repair_order"] == "RO-4711"
    assert issue["seed_sha256"] == seed_sha256(SEED)
    assert issue["request_number"] == july.number
    assert issue["timestamp_utc"].startswith("2014-07-01T20:27:00")
    assert list(table[0]) == list(reports.NICB_COLUMNS)


def test_monthly_report(engine: Engine, july: RequestView) -> None:
    with Session(engine) as session:
        report = reports.monthly_report(session, DEALER, 2014, 7)
    assert report.counts == {"request": 1, "approve": 1, "refuse": 0, "issue": 1, "close": 0}
    assert report.vins == (VIN,)
    table = list(csv.DictReader(io.StringIO(reports.monthly_report_csv(report))))
    assert [r["action"] for r in table] == ["request", "approve", "issue"]
    assert {r["customer_last_name"] for r in table} == {"Smith"}
    assert table[1]["detail"].startswith("approved by Alice until 2014-07-04T20:27:00")
    text = reports.monthly_report_text(report)
    assert "Monthly Vehicle Security Transaction Report - 2014-07 (UTC)" in text
    assert "Dealer 63123 Lexus of Lab City" in text
    assert "Pass-codes issued        1" in text
    assert f"{july.number}  issue" in text
    page = reports.monthly_report_html(report)
    assert page.startswith("<!DOCTYPE html>") and VIN in page
    with Session(engine) as session:
        august = reports.monthly_report(session, DEALER, 2014, 8)
    assert august.counts["approve"] == 1


def test_other_dealer_report_escapes_formulas(engine: Engine, july: RequestView) -> None:
    with Session(engine) as session:
        report = reports.monthly_report(session, "64001", 2014, 7)
    assert report.counts["refuse"] == 1
    line = reports.monthly_report_csv(report).splitlines()[2]
    assert "'=HYPERLINK" not in line  # the detail starts with "refused by", not with "="
    assert '=HYPERLINK(""x"")' in line
    assert "&lt;" not in reports.monthly_report_html(report)
    assert "=HYPERLINK(&quot;x&quot;)" in reports.monthly_report_html(report)


def test_formula_cells_are_neutralised() -> None:
    row = reports.Transaction(
        at=datetime(2014, 7, 1, tzinfo=UTC), dealer_code="1", request_number="1",
        action="request", vin=VIN, repair_order="=1+2", actor="@x", seed_sha256="",
        customer_last_name="-Smith", detail="", audit_seq=1, audit_hash="0" * 64,
    )  # fmt: skip
    line = reports.nicb_csv([row]).splitlines()[1]
    assert ",'=1+2,'@x," in line


def test_unknown_dealer_and_month(engine: Engine, july: RequestView) -> None:
    with Session(engine) as session:
        with pytest.raises(NotFoundError):
            reports.monthly_report(session, "99999", 2014, 7)
        with pytest.raises(ValueError, match="month"):
            reports.monthly_report(session, DEALER, 2014, 13)
