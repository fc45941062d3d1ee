"""The reports: the NICB transaction-log export and the monthly dealer report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from ecusim.portal import reports
from ecusim.portal.api.dependencies import CurrentManager, PortalDep
from ecusim.portal.errors import ValidationError
from ecusim.portal.rules import MAX_DEALER_CODE_LENGTH

__all__ = ["MAX_QUERY_TIME_LENGTH", "router"]

MAX_QUERY_TIME_LENGTH = 64
"""Longest ``since``/``until`` accepted (``2014-07-01T20:27:00.000000+00:00`` is 32)."""

router = APIRouter(tags=["reports"])

_MEDIA_TYPES = {"csv": "text/csv", "text": "text/plain", "html": "text/html"}
_RENDERERS = {
    "csv": reports.monthly_report_csv,
    "text": reports.monthly_report_text,
    "html": reports.monthly_report_html,
}


def _utc_query_time(text: str, field: str) -> datetime:
    """``2014-07-01`` or ``2014-07-01T20:27:00+00:00`` (no offset: UTC); a time whose UTC
    falls outside years 1-9999 (``9999-12-31T23:59:59-01:00``) is refused naming ``field``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            field, f"expected an ISO 8601 date or time (2014-07-01T00:00:00+00:00), got {text!r}"
        ) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            field, f"{text.strip()} is out of range: in UTC it falls outside years 1 to 9999"
        ) from None


def _year_month(text: str) -> tuple[int, int]:
    parts = text.split("-")
    if (
        len(parts) != 2
        or not all(part.isascii() and part.isdigit() for part in parts)
        or (len(parts[0]), len(parts[1])) not in ((4, 2), (4, 1))  # no int() of 5000 digits
    ):
        raise ValidationError("month", f"expected YYYY-MM, got {text!r}")
    return int(parts[0]), int(parts[1])


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
    start, end = _utc_query_time(since, "since"), _utc_query_time(until, "until")
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
    month: Annotated[str, Path(max_length=7, description="`YYYY-MM` (UTC)", examples=["2014-07"])],
    fmt: Annotated[
        Literal["csv", "text", "html"],
        Query(alias="format", description="`csv`, `text` or `html`"),
    ] = "csv",
) -> Response:
    """The Dealer GM's report: approving managers only (403), of their own dealer (another
    dealer's answers 404, before the month is read). Months are UTC calendar months."""
    portal.require_dealer_member(user.username, dealer_code)
    year, month_number = _year_month(month)
    report = portal.monthly_report(user.username, dealer_code, year, month_number)
    return Response(_RENDERERS[fmt](report), media_type=_MEDIA_TYPES[fmt])
