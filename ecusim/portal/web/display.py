"""How the pages write times: the bulletin's ``07/01/2014 01:27 PM PDT`` form, on the portal's
clock in UTC (the portal stores and compares UTC; the API writes ISO 8601).

Registered as the Jinja2 filter ``tis_time`` on :data:`~ecusim.portal.web.rendering.TEMPLATES`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ecusim.portal.web.rendering import TEMPLATES

__all__ = ["tis_time"]


def tis_time(value: datetime | None) -> str:
    """``07/01/2014 08:27 PM UTC`` (bulletin Section 4, Figure 16's form); ``None`` → ``""``."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%m/%d/%Y %I:%M %p UTC")


TEMPLATES.env.filters["tis_time"] = tis_time
