"""The portal's tables (SQLAlchemy 2 typed ORM).

Never stored: a Seed Number or a Pass-Code. Only the SHA-256 of each seed is kept
(:attr:`PassCodeIssue.seed_sha256`, :attr:`AuditRecord.seed_sha256`). Times are timezone-aware
UTC (:class:`UtcDateTime`), also on SQLite, which has no time zones.

The Alembic scripts in ``ecusim/portal/migrations/versions`` create exactly these tables; a test
compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "GENESIS_HASH",
    "Action",
    "Approval",
    "AuditHead",
    "AuditRecord",
    "AuthFailure",
    "Base",
    "Dealer",
    "LoginSession",
    "PassCodeIssue",
    "RequestStatus",
    "ResetRequest",
    "Staff",
    "UtcDateTime",
]

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first audit record."""

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime``: converted to UTC on the way in, UTC attached on the
    way out (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the portal stores timezone-aware UTC times only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RequestStatus:
    """Values of :attr:`ResetRequest.status`. ``expired`` is never stored: a ``requested`` row
    past :attr:`ResetRequest.expires_at` reads as expired (so a refusal writes nothing)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"
    EXPIRED = "expired"
    CLOSED = "closed"
    """Never stored either: an ``approved`` row whose approval was closed (repair completed)."""


class Action:
    """``AuditRecord.action`` values."""

    ENROLL_DEALER = "enroll-dealer"
    ADD_STAFF = "add-staff"
    REQUEST = "request"
    APPROVE = "approve"
    REFUSE = "refuse"
    ISSUE = "issue"

    CLOSE = "close"
    """An approval closed: the vehicle repair is completed; no Pass-Code after it."""
    ISSUE_REFUSED = "issue-refused"
    """A Pass-Code asked for and refused by the rules (closed, expired, rate limit …)."""
    LOGIN_FAILED = "login-failed"
    PASSWORD_FAILED = "password-failed"
    """A wrong password at the re-entry before Pass-Codes (step-up)."""
    THROTTLED = "throttled"
    """A failure that used up the budget: the account or address now gets 429."""
    STEP_UP = "step-up"
    """The password re-entered: the session may obtain Pass-Codes for a short window."""
    CHANGE_STAFF = "change-staff"
    """A member's enrolment or job title changed; their sessions are revoked."""

    TRANSACTIONS = (REQUEST, APPROVE, REFUSE, ISSUE, CLOSE)
    """The vehicle security transactions (reported to the dealer GM and the NICB)."""
    ATTEMPTS = (ISSUE_REFUSED, LOGIN_FAILED, PASSWORD_FAILED, THROTTLED)
    """Refused and failed attempts (security events; the NICB export carries them too)."""


class Dealer(Base):
    __tablename__ = "dealer"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    staff: Mapped[list[Staff]] = relationship(back_populates="dealer")


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dealer_code: Mapped[str] = mapped_column(ForeignKey("dealer.code"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    job_title: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(200))
    enrolled: Mapped[bool] = mapped_column(Boolean)
    """Enrolled in the pass-code programme; only enrolled staff take part."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    dealer: Mapped[Dealer] = relationship(back_populates="staff")


class ResetRequest(Base):
    """A reset approval request: the form of bulletin Section 2 / 3."""

    __tablename__ = "reset_request"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    """``YYMMDD`` (UTC day sent) + a 5-digit sequence of that day: ``14070100021``."""
    dealer_code: Mapped[str] = mapped_column(ForeignKey("dealer.code"), index=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    vin: Mapped[str] = mapped_column(String(17), index=True)
    repair_order: Mapped[str] = mapped_column(String(60))
    customer_last_name: Mapped[str] = mapped_column(String(60))
    confirm_customer_authority: Mapped[bool] = mapped_column(Boolean)
    confirm_customer_identity: Mapped[bool] = mapped_column(Boolean)
    confirm_vehicle_registration: Mapped[bool] = mapped_column(Boolean)
    confirm_terms: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    refused_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    refusal_reason: Mapped[str | None] = mapped_column(String(200))

    dealer: Mapped[Dealer] = relationship()
    technician: Mapped[Staff] = relationship(foreign_keys=[technician_id])
    approval: Mapped[Approval | None] = relationship(back_populates="request")


class Approval(Base):
    """A manager's approval of one request (at most one: the unique ``request_number``)."""

    __tablename__ = "approval"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_number: Mapped[str] = mapped_column(ForeignKey("reset_request.number"), unique=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    confirm_details_verified: Mapped[bool] = mapped_column(Boolean)
    confirm_nicb_log: Mapped[bool] = mapped_column(Boolean)
    confirm_terms: Mapped[bool] = mapped_column(Boolean)
    approved_at: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When the approval was closed ("the vehicle repair is completed"); no issue after it."""
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    request: Mapped[ResetRequest] = relationship(back_populates="approval")
    manager: Mapped[Staff] = relationship(foreign_keys=[manager_id])


class PassCodeIssue(Base):
    """One Pass-Code handed out: the seed's hash, never the seed or the code."""

    __tablename__ = "pass_code_issue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approval.id"), index=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    seed_sha256: Mapped[str] = mapped_column(String(64))
    tool_version: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())

    approval: Mapped[Approval] = relationship()

    __table_args__ = (Index("ix_pass_code_issue_approval_seed", "approval_id", "seed_sha256"),)


class AuditRecord(Base):
    """One link of the append-only hash chain (see :mod:`ecusim.portal.audit`)."""

    __tablename__ = "audit_record"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    dealer_code: Mapped[str | None] = mapped_column(String(16), index=True)
    action: Mapped[str] = mapped_column(String(32))
    request_number: Mapped[str | None] = mapped_column(String(16))
    vin: Mapped[str | None] = mapped_column(String(17))
    repair_order: Mapped[str | None] = mapped_column(String(60))
    seed_sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    """Canonical JSON object of the action's other facts."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    scheme: Mapped[str] = mapped_column(String(16), default="sha256", server_default="sha256")
    """How :attr:`hash` was made: ``sha256`` (records written before keyed chaining) or
    ``hmac-sha256`` (see :mod:`ecusim.portal.audit`)."""


class AuditHead(Base):
    """The single row (``id`` 1) naming the last audit record. Every writing transaction locks it
    first, which serialises writers and lets :func:`~ecusim.portal.audit.verify` notice a
    deleted last record."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class LoginSession(Base):
    """A logged-in session: only the SHA-256 of its bearer token is stored (OWASP ASVS V3.5).

    The user's role is re-read on every request; revoking (logout, a change of the user's
    enrolment or job title) sets :attr:`revoked_at`.
    """

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    step_up_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """The password was re-entered on this session; Pass-Codes need no new one until then."""

    staff: Mapped[Staff] = relationship()


class AuthFailure(Base):
    """One failed login or password re-entry, counted by the throttle (OWASP ASVS V2.2.1).

    Rows older than the failure window are deleted as new ones are written.
    """

    __tablename__ = "auth_failure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``login`` or ``password`` (a re-entry)."""
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    client_address: Mapped[str | None] = mapped_column(String(64), index=True)
