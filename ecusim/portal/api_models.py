"""The JSON shapes of the portal HTTP API v1 (pydantic models; ``docs/portal-api.md``).

Request bodies only check JSON types: the portal's rules (VIN check digit, tool version, seed
format, confirmations) are checked by :class:`~ecusim.portal.service.Portal`, so an error names
the same field whether it comes from the API or the service. Confirmation boxes are strict
booleans: only JSON ``true`` counts (``"yes"`` or ``1`` is a 422). Times are ISO 8601 UTC strings
with a ``+00:00`` offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictBool, WithJsonSchema

__all__ = [
    "ApprovalConfirmationsIn",
    "ApproveIn",
    "AuditOut",
    "AuditProblemOut",
    "AuditRecordOut",
    "AuditVerifyOut",
    "ErrorBody",
    "ErrorOut",
    "HealthOut",
    "IdentificationConfirmationsIn",
    "InboxOut",
    "LoginIn",
    "LoginOut",
    "PassCodeIn",
    "PassCodeOut",
    "RefuseIn",
    "RequestIn",
    "RequestOut",
    "UserOut",
]


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


UtcTime = Annotated[
    datetime,
    PlainSerializer(_iso_utc, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2014-07-01T20:27:00+00:00"}
    ),
]
"""A timezone-aware time, written as ISO 8601 UTC (``2014-07-01T20:27:00+00:00``)."""


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- errors and health -------------------------------------------------------------------------


class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status code, repeated.", examples=[422])
    field: str | None = Field(
        description="The request field or object the error is about (`vin`, "
        "`confirmations.customer_identity`, `dealer`), or null.",
        examples=["vin"],
    )
    reason: str = Field(description="A sentence for the user.", examples=["bad check digit"])


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"status", "field", "reason"}}``."""

    error: ErrorBody


class HealthOut(BaseModel):
    status: str = Field(description='Always `"ok"` while the server answers.', examples=["ok"])


# -- login ---------------------------------------------------------------------------------------


class LoginIn(_In):
    username: str = Field(description="The staff member's username.", examples=["carol"])
    password: str = Field(description="The staff member's password.")


class UserOut(_Out):
    username: str
    name: str
    dealer_code: str
    job_title: str
    enrolled: bool = Field(description="Enrolled in the pass-code programme.")
    can_approve: bool = Field(description="Enrolled, with an approving job title (a manager).")


class LoginOut(BaseModel):
    token: str = Field(description="Bearer token for the `Authorization` header.")
    expires_at: UtcTime = Field(description="When the token stops working (portal clock).")
    user: UserOut


# -- requests ------------------------------------------------------------------------------------


class IdentificationConfirmationsIn(_In):
    """The 4 Positive Identification Policy boxes (bulletin Section 2); all must be `true`."""

    customer_authority: StrictBool = Field(
        False,
        description="I have verified the customer's authority to obtain vehicle security "
        "information for this vehicle.",
    )
    customer_identity: StrictBool = Field(
        False,
        description="I have verified the customer's full legal name and confirmed their "
        "identity with a valid picture ID.",
    )
    vehicle_registration: StrictBool = Field(
        False,
        description="I have or will visually confirm the vehicle's registration document "
        "and ownership.",
    )
    terms_and_conditions: StrictBool = Field(
        False, description="I agree to the TIS Terms and Conditions."
    )


class RequestIn(_In):
    vin: str = Field(
        description="17 characters, valid check digit.", examples=["JTHBL5EF0C5000001"]
    )
    repair_order: str = Field(
        description="Repair order / parts invoice number.", examples=["RO-4711"]
    )
    customer_last_name: str = Field(examples=["Smith"])
    confirmations: IdentificationConfirmationsIn


class RequestOut(_Out):
    """A reset request as its inbox entry shows it; `status` accounts for expiry."""

    number: str = Field(description="`YYMMDD` + 5 digits.", examples=["14070100001"])
    dealer_code: str
    dealer_name: str
    technician_username: str
    technician_name: str
    vin: str
    repair_order: str
    customer_last_name: str
    status: str = Field(description="`requested`, `approved`, `refused` or `expired`.")
    created_at: UtcTime
    expires_at: UtcTime = Field(description="An unapproved request expires 72 h after it is sent.")
    approved_by: str | None = Field(description="The approving manager's name.")
    approved_at: UtcTime | None
    valid_until: UtcTime | None = Field(description="End of the approval's validity.")
    refused_by: str | None = Field(description="The refusing manager's name.")
    refused_at: UtcTime | None
    refusal_reason: str | None


class InboxOut(_Out):
    awaiting_approval: list[RequestOut] = Field(
        description="For an approving manager: the dealer's open requests made by others."
    )
    my_requests: list[RequestOut] = Field(description="The user's own requests, newest first.")


class ApprovalConfirmationsIn(_In):
    """The 3 Request Approval Policy boxes (bulletin Section 4); all must be `true`."""

    details_verified: StrictBool = Field(
        False,
        description="I have verified the details entered for this request and confirmed "
        "the authority of the customer was verified.",
    )
    nicb_log_acknowledged: StrictBool = Field(
        False,
        description="I realize that upon retrieval, a transaction log will be posted to "
        "the National Insurance Crime Bureau.",
    )
    terms_and_conditions: StrictBool = Field(
        False, description="I agree to the TIS Terms and Conditions."
    )


class ApproveIn(_In):
    confirmations: ApprovalConfirmationsIn


class RefuseIn(_In):
    reason: str = Field(description="Shown to the technician (at most 200 characters).")


class PassCodeIn(_In):
    password: str = Field(description="The user's password, entered again.")
    tool_version: str = Field(
        description="Scan-tool software, 9.10.037 or later.", examples=["9.10.037"]
    )
    seed: str = Field(
        description="The Seed Number the car shows: 16 bytes of hex, any case, `-` or spaces "
        "allowed.",
        examples=["00010203-04050607-08090A0B-0C0D0E0F"],
    )


class PassCodeOut(_Out):
    pass_code: str = Field(
        description="Display form; shown once, never stored.",
        examples=["68048306-E57DF5FB-1D818A1B-527791CD"],
    )
    request_number: str
    vin: str
    seed_sha256: str = Field(description="Hex SHA-256 of the seed's 16 bytes (what is stored).")
    issued_at: UtcTime
    approval_valid_until: UtcTime


# -- audit ---------------------------------------------------------------------------------------


class AuditRecordOut(_Out):
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


class AuditOut(BaseModel):
    records: list[AuditRecordOut]


class AuditProblemOut(BaseModel):
    seq: int = Field(description="The record concerned (a deleted one: the first missing number).")
    problem: str = Field(
        description="`edited`, `missing`, `broken-link` or `head`, a colon and an explanation."
    )


class AuditVerifyOut(BaseModel):
    ok: bool = Field(description="True when the hash chain is intact.")
    problems: list[AuditProblemOut]
