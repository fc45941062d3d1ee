"""The approving managers' pages: the monthly report, the audit log and the NICB export.

The bulletin: "Details of this transaction will be included in the Monthly Vehicle Security
Transaction Report sent to the Dealer GM. Also, a log of each transaction is sent to the National
Insurance Crime Bureau". Every page is for approving managers only, as the API's reports are:
:meth:`~ecusim.portal.service.Portal.require_manager` is asked first (a dependency, before the
query is read), and anyone else gets the service's
:class:`~ecusim.portal.errors.PermissionDeniedError` as a 403 page.

- ``GET /reports/monthly?month=YYYY-MM`` (default: the month of the portal's clock, UTC): the
  Monthly Vehicle Security Transaction Report of the user's own dealer as an HTML table (the
  template escapes every stored value), a month picker (``#month``, a GET form) and the CSV
  download ``/reports/monthly.csv?month=YYYY-MM`` (``#download-csv``,
  :func:`~ecusim.portal.reports.monthly_report_csv`, ``Content-Disposition: attachment``).
- ``GET /audit``: the verification of the whole keyed chain at the top (``#audit-verification``)
  and the dealer's newest :data:`PAGE_RECORDS` audit records; ``?since_seq=N`` is a cursor (the
  records after ``N``, oldest first) with a *next* link while there are more.
- ``GET /reports/nicb?since=..&until=..`` (default: the current month): the NICB form, a GET to
  ``/reports/nicb.csv`` (:func:`~ecusim.portal.reports.nicb_csv`, an attachment).

Query values are read as the API reads them (:mod:`ecusim.portal.query_values`, the same
``max_length``): a malformed month, since or until is a 422 page naming the field in the API's
words, never a 500. The links carry only months, dates and audit sequence numbers: no customer
data in a URL.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ecusim.portal import reports, rules
from ecusim.portal.errors import ValidationError
from ecusim.portal.query_values import (
    MAX_MONTH_LENGTH,
    MAX_QUERY_TIME_LENGTH,
    utc_query_time,
    year_month,
)
from ecusim.portal.service import MAX_AUDIT_LIMIT, Portal
from ecusim.portal.views import AuditRecordView
from ecusim.portal.web import display  # noqa: F401  (the templates' tis_time filter)
from ecusim.portal.web.rendering import Browser, BrowserSession, PagePortal, render

__all__ = ["PAGE_RECORDS", "router"]

router = APIRouter(include_in_schema=False)

PAGE_RECORDS: Final = 100
"""Audit records per page of ``/audit``."""
CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"


async def _manager(portal: PagePortal, current: Browser) -> BrowserSession:
    """The live session of an approving manager (else the service's 403 refusal, shown by the
    pages' error handler)."""
    await run_in_threadpool(portal.require_manager, current.username)
    return current


Manager = Annotated[BrowserSession, Depends(_manager)]
"""The browser of an approving manager: checked before the query is read."""
Month = Annotated[str | None, Query(max_length=MAX_MONTH_LENGTH, description="`YYYY-MM` (UTC)")]
Time = Annotated[str | None, Query(max_length=MAX_QUERY_TIME_LENGTH)]


def _attachment(response: Response, filename: str) -> Response:
    """``response`` as a download named ``filename`` (only ``[A-Za-z0-9._-]`` kept)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response


# -- the monthly report --------------------------------------------------------------------------


def _read_monthly(portal: Portal, username: str, month: str) -> reports.MonthlyReport:
    year, number = year_month(month)
    dealer = portal.own_dealer(username)
    return portal.monthly_report(username, dealer.code, year, number)


async def _monthly(
    portal: Portal, current: BrowserSession, month: str | None
) -> tuple[str, reports.MonthlyReport]:
    """The month asked for (default: the clock's, UTC) and its report (else ValidationError
    on ``month``)."""
    if month is None:
        month = f"{portal.now().astimezone(UTC):%Y-%m}"
    return month, await run_in_threadpool(_read_monthly, portal, current.username, month)


def _monthly_page(
    request: Request,
    current: BrowserSession,
    month: str,
    report: reports.MonthlyReport | None,
    error: ValidationError | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "month": month,
        "report": report,
        "labels": reports.ACTION_LABELS,
        "attempts_label": reports.ATTEMPTS_LABEL,
        "max_month": MAX_MONTH_LENGTH,
    }
    if report is not None:
        context["month"] = f"{report.year:04d}-{report.month:02d}"
    return render(
        request, "monthly_report.html", context, current=current, error=error, fields=("month",)
    )


@router.get("/reports/monthly", response_class=HTMLResponse)
async def monthly_report(
    request: Request, portal: PagePortal, current: Manager, month: Month = None
) -> Response:
    """The Monthly Vehicle Security Transaction Report of the user's dealer, as a table."""
    try:
        chosen, report = await _monthly(portal, current, month)
    except ValidationError as exc:
        return _monthly_page(request, current, month or "", None, exc)
    return _monthly_page(request, current, chosen, report)


@router.get("/reports/monthly.csv", response_class=Response)
async def monthly_report_csv(
    request: Request, portal: PagePortal, current: Manager, month: Month = None
) -> Response:
    """The same report as CSV (:data:`~ecusim.portal.reports.MONTHLY_COLUMNS`), a download."""
    try:
        _, report = await _monthly(portal, current, month)
    except ValidationError as exc:
        return _monthly_page(request, current, month or "", None, exc)
    name = f"monthly-report-{report.dealer_code}-{report.year:04d}-{report.month:02d}.csv"
    text = reports.monthly_report_csv(report)
    return _attachment(Response(text, media_type=CSV_MEDIA_TYPE), name)


# -- the audit log -------------------------------------------------------------------------------


def _newest_records(portal: Portal, username: str) -> tuple[AuditRecordView, ...]:
    """The dealer's newest :data:`PAGE_RECORDS` records, oldest first (read through the
    service's cursor, :data:`~ecusim.portal.service.MAX_AUDIT_LIMIT` at a time)."""
    kept: tuple[AuditRecordView, ...] = ()
    since = 0
    while True:
        batch = portal.audit_records(username, since, MAX_AUDIT_LIMIT)
        kept = (kept + batch)[-PAGE_RECORDS:]
        if len(batch) < MAX_AUDIT_LIMIT:
            return kept
        since = batch[-1].seq


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    portal: PagePortal,
    current: Manager,
    since_seq: Annotated[int | None, Query(ge=0, le=rules.MAX_AUDIT_SEQ)] = None,
) -> Response:
    """The chain's verification, then the records (the newest, or those after ``since_seq``)."""
    verification = await run_in_threadpool(portal.verify_audit, current.username)
    if since_seq is None:
        records = await run_in_threadpool(_newest_records, portal, current.username)
        more = False
    else:
        records = await run_in_threadpool(
            portal.audit_records, current.username, since_seq, PAGE_RECORDS
        )
        more = len(records) == PAGE_RECORDS
    context = {
        "verification": verification,
        "records": records,
        "since_seq": since_seq,
        "next_seq": records[-1].seq if more else None,
    }
    return render(request, "audit.html", context, current=current)


# -- the NICB export -----------------------------------------------------------------------------


def _this_month(portal: Portal) -> tuple[str, str]:
    """The first day of the clock's month (UTC) and of the next one, ``YYYY-MM-DD``."""
    today = portal.now().astimezone(UTC).date()
    start = today.replace(day=1)
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start.isoformat(), end.isoformat()


def _nicb_page(
    request: Request,
    current: BrowserSession,
    since: str,
    until: str,
    error: ValidationError | None = None,
) -> HTMLResponse:
    context = {"since": since, "until": until, "max_time": MAX_QUERY_TIME_LENGTH}
    return render(
        request, "nicb.html", context, current=current, error=error, fields=("since", "until")
    )


def _period(portal: Portal, since: str | None, until: str | None) -> tuple[str, str]:
    default_since, default_until = _this_month(portal)
    return (default_since if since is None else since, default_until if until is None else until)


@router.get("/reports/nicb", response_class=HTMLResponse)
async def nicb_form(
    request: Request,
    portal: PagePortal,
    current: Manager,
    since: Time = None,
    until: Time = None,
) -> Response:
    """The form of the NICB transaction-log export (the values checked if given)."""
    since_text, until_text = _period(portal, since, until)
    try:
        utc_query_time(since_text, "since")
        utc_query_time(until_text, "until")
    except ValidationError as exc:
        return _nicb_page(request, current, since_text, until_text, exc)
    return _nicb_page(request, current, since_text, until_text)


@router.get("/reports/nicb.csv", response_class=Response)
async def nicb_csv(
    request: Request,
    portal: PagePortal,
    current: Manager,
    since: Time = None,
    until: Time = None,
) -> Response:
    """The dealer's transactions and attempts from ``since`` (inclusive) to ``until``
    (exclusive), then the audit chain's head: :func:`~ecusim.portal.reports.nicb_csv`."""
    since_text, until_text = _period(portal, since, until)
    try:
        start: datetime = utc_query_time(since_text, "since")
        end: datetime = utc_query_time(until_text, "until")
    except ValidationError as exc:
        return _nicb_page(request, current, since_text, until_text, exc)
    export = await run_in_threadpool(portal.nicb_export, current.username, start, end)
    name = f"nicb-log-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.csv"
    return _attachment(Response(reports.nicb_csv(export), media_type=CSV_MEDIA_TYPE), name)
