"""The portal's views, defined once: what :class:`~ecusim.portal.service.Portal` returns, what the
HTTP API answers (``docs/portal-api.md``) and what :class:`~ecusim.portal.client.PortalClient`
decodes.

Frozen pydantic models (pydantic only, no FastAPI). Times are timezone-aware UTC and are written
as ISO 8601 with a ``+00:00`` offset (:data:`UtcTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

__all__ = [
    "AuditProblemView",
    "AuditRecordView",
    "AuditVerification",
    "DealerView",
    "Inbox",
    "IssuedPassCode",
    "RequestView",
    "StaffView",
    "UtcTime",
    "View",
]


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC)


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


UtcTime = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(_iso_utc, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2014-07-01T20:27:00+00:00"}
    ),
]
"""A timezone-aware time, held in UTC and written as ISO 8601 (``2014-07-01T20:27:00+00:00``)."""


class View(BaseModel):
    """Base of the views: immutable, readable from ORM rows, every field always in the output."""

    model_config = ConfigDict(
        frozen=True, from_attributes=True, json_schema_serialization_defaults_required=True
    )


class DealerView(View):
    """A dealer enrolled in the pass-code programme."""

    code: str
    name: str


class StaffView(View):
    """A staff member of a dealer."""

    username: str
    name: str
    dealer_code: str
    job_title: str
    enrolled: bool = Field(description="Enrolled in the pass-code programme.")
    can_approve: bool = Field(description="Enrolled, with an approving job title (a manager).")


class RequestView(View):
    """A reset request as its inbox entry shows it; `status` accounts for expiry and closing."""

    number: str = Field(description="`YYMMDD` + 5 digits.", examples=["14070100001"])
    dealer_code: str
    dealer_name: str
    technician_username: str
    technician_name: str
    vin: str
    repair_order: str
    customer_last_name: str
    status: str = Field(
        description="`requested`, `approved`, `refused`, `expired` or `closed` (an approval "
        "closed when the repair was completed: no more Pass-Codes)."
    )
    created_at: UtcTime
    expires_at: UtcTime = Field(description="An unapproved request expires 72 h after it is sent.")
    approved_by: str | None = Field(None, description="The approving manager's name.")
    approved_at: UtcTime | None = None
    valid_until: UtcTime | None = Field(None, description="End of the approval's validity.")
    refused_by: str | None = Field(None, description="The refusing manager's name.")
    refused_at: UtcTime | None = None
    refusal_reason: str | None = None
    closed_at: UtcTime | None = Field(None, description="When the approval was closed.")
    closed_by: str | None = Field(None, description="The name of who closed the approval.")


class Inbox(View):
    """What awaits the user: requests to decide on, and the user's own."""

    awaiting_approval: tuple[RequestView, ...] = Field(
        description="For an approving manager: the dealer's open requests made by others."
    )
    my_requests: tuple[RequestView, ...] = Field(
        description="The user's own requests, newest first, approved, refused, pending or expired."
    )


class IssuedPassCode(View):
    """A Pass-Code handed out for a Seed Number under an approval."""

    pass_code: str = Field(
        description="Display form; shown once, never stored.",
        examples=["68048306-E57DF5FB-1D818A1B-527791CD"],
    )
    request_number: str
    vin: str
    seed_sha256: str = Field(description="Hex SHA-256 of the seed's 16 bytes (what is stored).")
    issued_at: UtcTime = Field(
        description="When it was first issued: the same seed asked again under the approval gets "
        "the same Pass-Code and this first time (nothing new is recorded)."
    )
    approval_valid_until: UtcTime


class AuditRecordView(View):
    """One record of the hash-chained audit log, as stored."""

    seq: int
    at: UtcTime
    actor: str
    dealer_code: str | None
    action: str
    request_number: str | None
    vin: str | None
    repair_order: str | None
    seed_sha256: str | None
    details: str = Field(
        description="The action's other facts as stored: canonical JSON text (sorted keys, no "
        "spaces), exactly the string the record's hash covers."
    )
    prev_hash: str
    hash: str


class AuditProblemView(View):
    """One inconsistency of the audit hash chain."""

    seq: int = Field(description="The record concerned (a deleted one: the first missing number).")
    problem: str = Field(
        description="`edited`, `missing`, `broken-link` or `head`, a colon and an explanation."
    )


class AuditVerification(View):
    """The result of checking the audit hash chain."""

    ok: bool = Field(description="True when the hash chain is intact.")
    problems: tuple[AuditProblemView, ...]
    legacy: int = Field(
        default=0,
        description="Records of the unkeyed legacy scheme (sha256): intact only as the prefix "
        "that the keyed audit-keyed record right after them seals.",
    )
