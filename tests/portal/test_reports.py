"""NICB transaction-log export and the Monthly Vehicle Security Transaction Report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ecusim.portal import audit, reports
from ecusim.portal.errors import NotFoundError
from ecusim.portal.models import Action
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.service import Portal, RequestView, seed_sha256
from protocol.clock import FakeClock

from .kit import DEALER, PASSWORD, START, VIN, Staffing, make_request

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


JULY = (datetime(2014, 7, 1, tzinfo=UTC), datetime(2014, 8, 1, tzinfo=UTC))


def test_nicb_export(engine: Engine, july: RequestView) -> None:
    with Session(engine) as session:
        export = reports.nicb_export(session, *JULY)
        head = audit.head(session)
    table = list(csv.DictReader(io.StringIO(reports.nicb_csv(export))))
    assert [(r["dealer_code"], r["action"]) for r in table] == [
        (DEALER, "request"),
        (DEALER, "approve"),
        (DEALER, "issue"),
        ("64001", "request"),
        ("64001", "refuse"),
        ("", "audit-head"),
    ]
    trailer = table[-1]
    assert (int(trailer["audit_seq"]), trailer["audit_hash"]) == (head.seq, head.hash)
    assert head.seq > max(int(r["audit_seq"]) for r in table[:-1])  # August's record too
    assert {key for key, value in trailer.items() if value} == {"action", "audit_seq", "audit_hash"}
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
    export = reports.NicbExport((row,), audit.ChainHead(1, "0" * 64))
    line = reports.nicb_csv(export).splitlines()[1]
    assert ",'=1+2,'@x," in line


def test_unknown_dealer_and_month(engine: Engine, july: RequestView) -> None:
    with Session(engine) as session:
        with pytest.raises(NotFoundError):
            reports.monthly_report(session, "99999", 2014, 7)
        with pytest.raises(ValueError, match="month"):
            reports.monthly_report(session, DEALER, 2014, 13)


def record_attempts(portal: Portal, number: str) -> None:
    """Refused and failed attempts on 1 July, as the gate's other parts write them."""
    with portal._writing() as (session, head):
        now = START + timedelta(hours=1)
        request = portal._request(session, number)
        portal._record_for_request(
            session, head, request, at=now, actor="carol", action=Action.ISSUE_REFUSED,
            details={"reason": "approval closed"},
        )  # fmt: skip
        for action, actor, dealer in (
            (Action.LOGIN_FAILED, "carol", DEALER),
            (Action.PASSWORD_FAILED, "dave", DEALER),
            (Action.THROTTLED, "carol", DEALER),
            (Action.LOGIN_FAILED, "nobody", None),  # an unknown username: no dealer
            (Action.STEP_UP, "carol", DEALER),  # not an attempt: not exported
        ):
            portal._record(
                session, head, at=now, actor=actor, action=action, dealer_code=dealer,
                details={"client_address": "127.0.0.1"},
            )  # fmt: skip


def test_nicb_export_carries_every_attempt(
    portal: Portal, staff: Staffing, july: RequestView, engine: Engine
) -> None:
    record_attempts(portal, july.number)
    export = portal.nicb_export(staff.manager, *JULY)
    table = list(csv.DictReader(io.StringIO(reports.nicb_csv(export))))
    assert [r["action"] for r in table] == [
        "request", "approve", "issue", "issue-refused", "login-failed", "password-failed",
        "throttled", "audit-head",
    ]  # fmt: skip
    refused = table[3]
    assert (refused["request_number"], refused["vin"], refused["actor"]) == (
        july.number,
        VIN,
        "carol",
    )
    assert [row.detail for row in export.rows][3:5] == [
        "reason approval closed",
        "client_address 127.0.0.1",
    ]
    assert portal.transactions(staff.manager, *JULY) == list(export.rows)
    # The other dealer's export has none of them; the operator's has the unknown user's too.
    assert all(
        r.dealer_code == "64001" for r in portal.nicb_export(staff.other_manager, *JULY).rows
    )
    with Session(engine) as session:
        everyone = reports.nicb_export(session, *JULY)
    unknown = [row for row in everyone.rows if row.actor == "nobody"]
    assert [(row.dealer_code, row.action) for row in unknown] == [("", "login-failed")]
    assert "step-up" not in {row.action for row in everyone.rows}


def test_monthly_report_counts_attempts_apart(
    portal: Portal, staff: Staffing, july: RequestView, engine: Engine
) -> None:
    record_attempts(portal, july.number)
    with Session(engine) as session:
        report = reports.monthly_report(session, DEALER, 2014, 7)
    assert report.counts == {"request": 1, "approve": 1, "refuse": 0, "issue": 1, "close": 0}
    assert [row.action for row in report.rows] == ["request", "approve", "issue"]
    assert report.attempts == 4  # the unknown user's and the step-up are not the dealer's
    assert "Refused/failed tries     4" in reports.monthly_report_text(report)
    assert "<li>Refused/failed tries: 4</li>" in reports.monthly_report_html(report)
    assert "login-failed" not in reports.monthly_report_csv(report)
