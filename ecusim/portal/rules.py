"""The portal's rules as pure functions (portal-rules.md; the bulletin, Sections 1-5).

No database and no clock here: the service calls these inside its transaction, before writing.
Each check raises :class:`~ecusim.portal.errors.ValidationError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta

from ecusim.catalog.vin import VinError, validate_vin
from ecusim.portal.errors import ValidationError
from protocol.errors import CodeFormatError
from protocol.passcode import SEED_NUMBER_LENGTH, parse_code

__all__ = [
    "APPROVAL_VALIDITY",
    "APPROVING_JOB_TITLES",
    "MAX_AUDIT_SEQ",
    "MAX_DEALER_CODE_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_REQUEST_NUMBER_LENGTH",
    "MAX_TOOL_VERSION_LENGTH",
    "MAX_TOOL_VERSION_PART_DIGITS",
    "MAX_USERNAME_LENGTH",
    "MIN_ENROLLED_MANAGERS",
    "MIN_TOOL_VERSION",
    "MIN_TOOL_VERSION_TEXT",
    "REQUEST_VALIDITY",
    "ApprovalConfirmations",
    "IdentificationConfirmations",
    "check_confirmations",
    "is_approving_title",
    "parse_tool_version",
    "require_key",
    "require_text",
    "tool_version_ok",
    "validate_seed",
    "validate_tool_version",
    "validate_vin_field",
]

APPROVING_JOB_TITLES: tuple[str, ...] = (
    "Dealer Principal",
    "General Manager",
    "Service Manager",
    "Service Director",
    "Service/Parts Director",
    "Parts Manager",
    "Parts Director",
    "Customer Relations Manager",
    "Customer Satisfaction Manager",
)
"""Job titles with pass-code approval capability (bulletin Section 1); everyone else is a
technician."""

_APPROVING_KEYS = frozenset(" ".join(title.casefold().split()) for title in APPROVING_JOB_TITLES)

MIN_ENROLLED_MANAGERS = 2
"""A dealer obtains pass-codes only while it has at least this many enrolled approving managers."""

REQUEST_VALIDITY = timedelta(hours=72)
"""An unapproved request expires this long after it is sent (bulletin Section 4)."""

APPROVAL_VALIDITY = timedelta(hours=72)
"""An approval is usable this long after it is given [LAB]."""

MIN_TOOL_VERSION_TEXT = "9.10.037"
"""Oldest scan-tool software accepted (bulletin, Required Tools)."""

MIN_TOOL_VERSION: tuple[int, ...] = (9, 10, 37)
""":data:`MIN_TOOL_VERSION_TEXT` as numbers."""

MAX_TEXT_LENGTH = 60
"""Longest repair order number or customer last name accepted [LAB]."""

# Length limits of every field that reaches the database, as its column (models.py): a longer
# value is refused naming the field before any SQL runs (OWASP ASVS 4.0.3 V5.1.4, V13.1.3).
MAX_USERNAME_LENGTH = 64
MAX_PASSWORD_LENGTH = 128
MAX_JOB_TITLE_LENGTH = 60
"""The ``staff.job_title`` column."""
"""Longest password accepted at login or re-entry (the password policy's maximum)."""
MAX_REASON_LENGTH = 200
MAX_DEALER_CODE_LENGTH = 16
MAX_REQUEST_NUMBER_LENGTH = 16
MAX_TOOL_VERSION_LENGTH = 32
MAX_TOOL_VERSION_PART_DIGITS = 6
"""Digits per part of a tool version: bounds ``int()`` (a 5000-digit part raised in it)."""
MAX_AUDIT_SEQ = 2**31 - 1
"""Largest audit sequence number (the ``Integer`` column: PostgreSQL int4)."""


@dataclass(frozen=True)
class IdentificationConfirmations:
    """The 4 Positive Identification Policy boxes of the request form (bulletin Section 2)."""

    customer_authority: bool = False
    """I have verified the customer's authority to obtain vehicle security information for this
    vehicle."""
    customer_identity: bool = False
    """I have verified the customer's full legal name and confirmed their identity with a valid
    picture ID."""
    vehicle_registration: bool = False
    """I have or will visually confirm the vehicle's registration document and ownership."""
    terms_and_conditions: bool = False
    """I agree to the TIS Terms and Conditions."""

    @classmethod
    def all_confirmed(cls) -> IdentificationConfirmations:
        return cls(True, True, True, True)


@dataclass(frozen=True)
class ApprovalConfirmations:
    """The 3 Request Approval Policy boxes of the approval (bulletin Section 4)."""

    details_verified: bool = False
    """I have verified the details entered for this request and confirmed the authority of the
    customer was verified."""
    nicb_log_acknowledged: bool = False
    """I realize that upon retrieval, a transaction log will be posted to the National Insurance
    Crime Bureau."""
    terms_and_conditions: bool = False
    """I agree to the TIS Terms and Conditions."""

    @classmethod
    def all_confirmed(cls) -> ApprovalConfirmations:
        return cls(True, True, True)


def check_confirmations(
    confirmations: IdentificationConfirmations | ApprovalConfirmations, prefix: str
) -> None:
    """Raise for the first box that is not checked, naming it (``confirmations.customer_identity``).

    Only ``True`` counts: a truthy string or 1 is refused too.
    """
    for item in fields(confirmations):
        if getattr(confirmations, item.name) is not True:
            raise ValidationError(
                f"{prefix}.{item.name}", f"must be confirmed: {item.name.replace('_', ' ')}"
            )


def is_approving_title(job_title: str) -> bool:
    """Whether ``job_title`` is one of :data:`APPROVING_JOB_TITLES` (case and spacing ignored)."""
    return " ".join(job_title.casefold().split()) in _APPROVING_KEYS


def require_text(field: str, value: object, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Return ``value`` stripped; raise unless it is a non-blank str of at most ``max_length``."""
    if not isinstance(value, str):
        raise ValidationError(field, f"is required (text), got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValidationError(field, "is required")
    if len(text) > max_length:
        raise ValidationError(field, f"is at most {max_length} characters, got {len(text)}")
    if not text.isprintable():
        raise ValidationError(field, "must not contain control characters")
    return text


def require_key(field: str, value: object, max_length: int) -> str:
    """Return ``value`` if it can be looked up: a str of at most ``max_length`` printable
    characters. A NUL made PostgreSQL raise, a lone surrogate failed to encode; neither can be in
    a stored key (they are all :func:`require_text`), so refusing them answers truthfully."""
    if not isinstance(value, str):
        raise ValidationError(field, f"is required (text), got {type(value).__name__}")
    if len(value) > max_length:
        raise ValidationError(field, f"is at most {max_length} characters, got {len(value)}")
    if not value.isprintable():
        raise ValidationError(field, "must not contain control characters")
    return value


def validate_vin_field(value: object, field: str = "vin") -> str:
    """Return the upper-case VIN (17 characters, valid check digit) or raise naming ``field``."""
    if not isinstance(value, str):
        raise ValidationError(field, f"is required (text), got {type(value).__name__}")
    try:
        return validate_vin(value.strip())
    except VinError as exc:
        raise ValidationError(field, exc.reason) from exc


def parse_tool_version(text: object, field: str = "tool_version") -> tuple[int, ...]:
    """``"9.10.037"`` → ``(9, 10, 37)``: dot-separated decimal numbers, compared numerically."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(field, "is required (for example 9.10.037)")
    stripped = text.strip()
    if len(stripped) > MAX_TOOL_VERSION_LENGTH:  # before int(): no 5000-digit conversions
        raise ValidationError(
            field, f"is at most {MAX_TOOL_VERSION_LENGTH} characters, got {len(stripped)}"
        )
    parts = stripped.split(".")
    if not all(part.isascii() and part.isdigit() for part in parts) or len(parts) > 6:
        raise ValidationError(
            field, f"{stripped!r} is not a version (numbers separated by dots: 9.10.037)"
        )
    if any(len(part) > MAX_TOOL_VERSION_PART_DIGITS for part in parts):
        raise ValidationError(
            field, f"{stripped!r}: each part has at most {MAX_TOOL_VERSION_PART_DIGITS} digits"
        )
    return tuple(int(part) for part in parts)


def tool_version_ok(version: tuple[int, ...], minimum: tuple[int, ...] = MIN_TOOL_VERSION) -> bool:
    """Whether ``version`` ≥ ``minimum``, missing trailing parts counting as 0 (9.10 = 9.10.0)."""
    width = max(len(version), len(minimum))
    return version + (0,) * (width - len(version)) >= minimum + (0,) * (width - len(minimum))


def validate_tool_version(text: object, field: str = "tool_version") -> str:
    """Return the version as entered (stripped) if it is 9.10.037 or later, else raise."""
    version = parse_tool_version(text, field)
    if not tool_version_ok(version):
        raise ValidationError(
            field,
            f"scan-tool software {str(text).strip()} is too old: "
            f"{MIN_TOOL_VERSION_TEXT} or later is required",
        )
    return str(text).strip()


def validate_seed(text: object, field: str = "seed") -> bytes:
    """Parse a Seed Number as typed (any case, ``-`` or spaces) into its 16 bytes, or raise."""
    if not isinstance(text, str):
        raise ValidationError(field, f"is required (text), got {type(text).__name__}")
    try:
        return parse_code(text, SEED_NUMBER_LENGTH, field=field)
    except CodeFormatError as exc:
        reason = str(exc).removeprefix(f"{field}: ")
        raise ValidationError(field, reason) from exc
