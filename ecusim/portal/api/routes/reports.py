"""The reports: the NICB transaction-log export and the monthly dealer report."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from ecusim.portal import reports
from ecusim.portal.api.dependencies import CurrentManager, PortalDep
from ecusim.portal.query_values import (
    MAX_MONTH_LENGTH,
    MAX_QUERY_TIME_LENGTH,
    utc_query_time,
    year_month,
)
from ecusim.portal.rules import MAX_DEALER_CODE_LENGTH

__all__ = ["MAX_QUERY_TIME_LENGTH", "router"]

router = APIRouter(tags=["reports"])

_MEDIA_TYPES = {"csv": "text/csv", "text": "text/plain", "html": "text/html"}
_RENDERERS = {
    "csv": reports.monthly_report_csv,
    "text": reports.monthly_report_text,
    "html": reports.monthly_report_html,
}


@router.get(
    "/reports/nicb",
    summary="NICB transaction-log export (CSV)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, CRLF line ends"}},
)
def nicb_report(
    portal: PortalDep,
    user: CurrentManager,
    since: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_TIME_LENGTH,
            description="Start, inclusive (ISO 8601; no offset: UTC)",
        ),
    ],
    until: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_TIME_LENGTH,
            description="End, exclusive (ISO 8601; no offset: UTC)",
        ),
    ],
) -> Response:
    """Managers only, and only their own dealer's transactions and refused or failed attempts;
    the last row (action `audit-head`) names the audit chain's head."""
    start, end = utc_query_time(since, "since"), utc_query_time(until, "until")
    text = reports.nicb_csv(portal.nicb_export(user.username, start, end))
    return Response(text, media_type="text/csv")


@router.get(
    "/reports/monthly/{dealer_code}/{month}",
    summary="Monthly Vehicle Security Transaction Report of the user's dealer",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in _MEDIA_TYPES.values()},
            "description": "The report in the requested format",
        }
    },
)
def monthly_report(
    portal: PortalDep,
    user: CurrentManager,
    dealer_code: Annotated[
        str, Path(max_length=MAX_DEALER_CODE_LENGTH, description="The dealer code")
    ],
    month: Annotated[
        str, Path(max_length=MAX_MONTH_LENGTH, description="`YYYY-MM` (UTC)", examples=["2014-07"])
    ],
    fmt: Annotated[
        Literal["csv", "text", "html"],
        Query(alias="format", description="`csv`, `text` or `html`"),
    ] = "csv",
) -> Response:
    """The Dealer GM's report: approving managers only (403), of their own dealer (another
    dealer's answers 404, before the month is read). Months are UTC calendar months."""
    portal.require_dealer_member(user.username, dealer_code)
    year, month_number = year_month(month)
    report = portal.monthly_report(user.username, dealer_code, year, month_number)
    return Response(_RENDERERS[fmt](report), media_type=_MEDIA_TYPES[fmt])
