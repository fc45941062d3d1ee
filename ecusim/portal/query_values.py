"""Values read from a query string of the reports: a time (``since``/``until``) and a month.

Shared by the JSON API (:mod:`ecusim.portal.api.routes.reports`) and the pages
(:mod:`ecusim.portal.web.pages.reports`), so both refuse the same input in the same words
(:class:`~ecusim.portal.errors.ValidationError` naming the field: HTTP 422). Input is bounded
before it is parsed (OWASP ASVS V13.1.3): no ``int()`` of a 5000-digit year.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from ecusim.portal.errors import ValidationError

__all__ = ["MAX_MONTH_LENGTH", "MAX_QUERY_TIME_LENGTH", "utc_query_time", "year_month"]

MAX_QUERY_TIME_LENGTH: Final = 64
"""Longest ``since``/``until`` accepted (``2014-07-01T20:27:00.000000+00:00`` is 32)."""
MAX_MONTH_LENGTH: Final = 7
"""Longest ``month`` accepted (``2014-07``)."""


def utc_query_time(text: str, field: str) -> datetime:
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


def year_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` (or ``YYYY-M``) as ``(year, month)``, refused on ``month`` otherwise; the
    month's range is :func:`ecusim.portal.reports.month_bounds`'s to check."""
    parts = text.split("-")
    if (
        len(parts) != 2
        or not all(part.isascii() and part.isdigit() for part in parts)
        or (len(parts[0]), len(parts[1])) not in ((4, 2), (4, 1))  # no int() of 5000 digits
    ):
        raise ValidationError("month", f"expected YYYY-MM, got {text!r}")
    return int(parts[0]), int(parts[1])
