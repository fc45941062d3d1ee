"""The JSON shapes of the portal HTTP API v1 that are not views (``docs/portal-api.md``): request
bodies, the login answer, envelopes and the error body. The answers that carry a view use
:mod:`ecusim.portal.views` as they are. Pydantic only, no FastAPI: the client imports this too.

Request bodies check JSON types and bound every string (at most its column's length, and no NUL
or lone surrogate, which no database column can hold: OWASP ASVS 4.0.3 V5.1.4). The portal's
rules (VIN check digit, tool version, seed format, confirmations) are checked by
:class:`~ecusim.portal.service.Portal`, so an error names the same field whether it comes from the
API or the service. Confirmation boxes are strict booleans: only JSON ``true`` counts (``"yes"``
or ``1`` is a 422). Times are ISO 8601 UTC strings
with a ``+00:00`` offset.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from ecusim.portal import rules
from ecusim.portal.views import AuditRecordView, StaffView, UtcTime

__all__ = [
    "API_PREFIX",
    "DEFAULT_PORT",
    "MAX_SEED_LENGTH",
    "MAX_VIN_LENGTH",
    "ApprovalConfirmationsIn",
    "ApproveIn",
    "AuditOut",
    "ErrorBody",
    "ErrorOut",
    "HealthOut",
    "IdentificationConfirmationsIn",
    "LoginIn",
    "LoginOut",
    "PassCodeIn",
    "RefuseIn",
    "RequestIn",
    "StaffChangeIn",
    "StepUpIn",
    "StepUpOut",
]

API_PREFIX: Final = "/api/v1"
"""Base path of every endpoint of the API v1."""
DEFAULT_PORT: Final = 8077
"""TCP port of ``ecusim portal serve`` and of the scan tool's default portal URL."""


MAX_VIN_LENGTH: Final = 32
"""A VIN is 17 characters; the slack lets the service strip and explain a near miss."""
MAX_SEED_LENGTH: Final = 64
"""A Seed Number is 32 hex digits; the slack allows its `-` and space separators."""


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _storable(value: str) -> str:
    """Refuse what no text column can hold (checked after ``max_length``, so bounded)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain lone surrogates (not valid Unicode)") from None
    return value


_Text = Annotated[str, AfterValidator(_storable)]
"""A request string: JSON text, without NUL or lone surrogates; each field sets its length."""


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
    model_config = ConfigDict(frozen=True)

    status: str = Field(description='Always `"ok"` while the server answers.', examples=["ok"])


# -- login ---------------------------------------------------------------------------------------


class LoginIn(_In):
    username: _Text = Field(
        max_length=rules.MAX_USERNAME_LENGTH,
        description="The staff member's username (at most 64 characters).",
        examples=["carol"],
    )
    password: _Text = Field(
        max_length=rules.MAX_PASSWORD_LENGTH,
        description="The staff member's password (at most 128 characters).",
    )


class LoginOut(BaseModel):
    """A login: the bearer token to send from now on, and whose it is."""

    model_config = ConfigDict(frozen=True)

    token: str = Field(description="Bearer token for the `Authorization` header.")
    expires_at: UtcTime = Field(description="When the token stops working (portal clock).")
    user: StaffView


class StepUpIn(_In):
    password: _Text = Field(
        max_length=rules.MAX_PASSWORD_LENGTH,
        description="The logged-in user's password, entered again.",
    )


class StepUpOut(BaseModel):
    """The session's step-up window: Pass-Codes need no password until then."""

    model_config = ConfigDict(frozen=True)

    step_up_until: UtcTime = Field(description="End of the window (portal clock).")


# -- staff ---------------------------------------------------------------------------------------


class StaffChangeIn(_In):
    """At least one of the two; every session of the member is revoked."""

    job_title: _Text | None = Field(
        None,
        max_length=rules.MAX_JOB_TITLE_LENGTH,
        description="The new job title (an approving one makes a manager).",
        examples=["Technician"],
    )
    enrolled: StrictBool | None = Field(
        None, description="Enrolled in the pass-code programme (`true`/`false`)."
    )


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
    vin: _Text = Field(
        max_length=MAX_VIN_LENGTH,
        description="17 characters, valid check digit.",
        examples=["JTHBL5EF0C5000001"],
    )
    repair_order: _Text = Field(
        max_length=rules.MAX_TEXT_LENGTH,
        description="Repair order / parts invoice number (at most 60 characters).",
        examples=["RO-4711"],
    )
    customer_last_name: _Text = Field(
        max_length=rules.MAX_TEXT_LENGTH,
        description="At most 60 characters.",
        examples=["Smith"],
    )
    confirmations: IdentificationConfirmationsIn


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
    reason: _Text = Field(
        max_length=rules.MAX_REASON_LENGTH,
        description="Shown to the technician (at most 200 characters).",
    )


class PassCodeIn(_In):
    password: _Text | None = Field(
        None,
        max_length=rules.MAX_PASSWORD_LENGTH,
        description="The user's password, entered again: opens the step-up window. Omit it "
        "inside the window (`POST /step-up`); outside, 401 on `password`.",
    )
    tool_version: _Text = Field(
        max_length=rules.MAX_TOOL_VERSION_LENGTH,
        description="Scan-tool software, 9.10.037 or later (at most 32 characters).",
        examples=["9.10.037"],
    )
    seed: _Text = Field(
        max_length=MAX_SEED_LENGTH,
        description="The Seed Number the car shows: 16 bytes of hex, any case, `-` or spaces "
        "allowed.",
        examples=["00010203-04050607-08090A0B-0C0D0E0F"],
    )


# -- audit ---------------------------------------------------------------------------------------


class AuditOut(BaseModel):
    records: tuple[AuditRecordView, ...]
