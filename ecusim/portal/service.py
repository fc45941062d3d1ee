"""The portal's operations: one database transaction each, every rule checked before a write.

Every writing operation first locks the audit chain head (:func:`ecusim.portal.audit.lock_head`),
so writers run one after the other on both SQLite and PostgreSQL: of two managers approving the
same request at once, the second finds it approved and gets :class:`ConflictError`; racing
pass-code issues are all recorded (the same seed twice: once) and the chain stays unbroken. Any
error raised inside the transaction rolls it back: a refused operation leaves the database
exactly as it was (refusals are logged with :mod:`logging`), except that a refused Pass-Code is
then audited in a transaction of its own (:data:`Action.ISSUE_REFUSED`).

Callers identify the acting user by username; every rule about who may do or read what is checked
here. Login sessions live in the database (:mod:`ecusim.portal.login_sessions`: the HTTP layer
maps a bearer token to :meth:`Portal.session`, which re-reads the user every time), and every
password check is throttled there too (:mod:`ecusim.portal.throttle`), so several worker
processes share both. Issuing a pass-code needs the password re-entered (bulletin Section 5):
each time on the command line, once per step-up window in a session. Reads (a request, the
inbox, the audit log, the reports) run in one read-only transaction each.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from ecusim.portal import audit, login_sessions, reports, rules, throttle
from ecusim.portal.anchors import Anchor, make_anchor
from ecusim.portal.anchors import verify as verify_anchors
from ecusim.portal.clock import SystemClock, utc_now
from ecusim.portal.db import make_engine, make_session_factory, upgrade
from ecusim.portal.errors import (
    AuthenticationError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    PortalError,
    RateLimitedError,
    ValidationError,
)
from ecusim.portal.keys import PAGES_KEY_INFO, derive_key
from ecusim.portal.login_sessions import SessionInfo
from ecusim.portal.models import (
    Action,
    Approval,
    AuditHead,
    AuditRecord,
    Dealer,
    PassCodeIssue,
    RequestStatus,
    ResetRequest,
    Staff,
)
from ecusim.portal.passwords import (
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.settings import PortalSettings
from ecusim.portal.throttle import FailureKind
from ecusim.portal.views import (
    AuditProblemView,
    AuditRecordView,
    AuditVerification,
    DealerView,
    Inbox,
    IssuedPassCode,
    RequestView,
    StaffView,
)
from protocol.clock import Clock
from protocol.passcode import DEFAULT_MASTER_SECRET, format_code, pass_code

__all__ = [
    "CLOSE_NOTE_CHARS",
    "MAX_AUDIT_LIMIT",
    "Action",
    "DealerView",
    "Inbox",
    "IssuedPassCode",
    "Portal",
    "RequestView",
    "SessionInfo",
    "StaffView",
    "seed_sha256",
]

logger = logging.getLogger(__name__)

REQUEST_SEQUENCE_DIGITS = 5
"""Request number = ``YYMMDD`` + this many digits (``14070100021``)."""
MAX_AUDIT_LIMIT = 1000
"""Most audit records one :meth:`Portal.audit_records` call returns."""
CLOSE_NOTE_CHARS = 200
"""Longest note of :meth:`Portal.close_approval`."""
REQUEST_NUMBER_CHARS = 16
ACTOR_CHARS = 64
"""Column widths: what an audit record keeps of a typed request number and username."""


def seed_sha256(seed: bytes) -> str:
    """Hex SHA-256 of a Seed Number's 16 bytes: all the portal keeps of a seed."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(seed)
    return digest.finalize().hex()


def _effective_status(request: ResetRequest, now: datetime) -> str:
    """The stored status, or ``expired`` past the deadline, or ``closed`` once the approval was
    closed (closing wins over a later expiry: it is what ended the approval)."""
    if request.status == RequestStatus.REQUESTED and now > request.expires_at:
        return RequestStatus.EXPIRED
    approval = request.approval
    if request.status == RequestStatus.APPROVED and approval is not None:
        if approval.closed_at is not None:
            return RequestStatus.CLOSED
        if now > approval.valid_until:
            return RequestStatus.EXPIRED
    return request.status


def _duration(span: timedelta) -> str:
    """``1 h``, ``15 min`` or ``90 s``: a window as a reason states it."""
    seconds = int(span.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class _StaffFacts(Protocol):
    """What a staff member's view needs: a :class:`Staff` or a row with these columns."""

    @property
    def username(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def dealer_code(self) -> str: ...
    @property
    def job_title(self) -> str: ...
    @property
    def enrolled(self) -> bool: ...


def _can_approve(staff: _StaffFacts) -> bool:
    """An enrolled member with an approving job title (a manager)."""
    return staff.enrolled and rules.is_approving_title(staff.job_title)


def _staff_view(staff: _StaffFacts) -> StaffView:
    return StaffView(
        username=staff.username,
        name=staff.name,
        dealer_code=staff.dealer_code,
        job_title=staff.job_title,
        enrolled=staff.enrolled,
        can_approve=_can_approve(staff),
    )


class Portal:
    """The dealer-side pass-code portal over one database.

    ``clock.now()`` gives POSIX seconds (:class:`~ecusim.portal.clock.SystemClock` by default);
    ``master_secret`` must be the cars' (diagnostic-contract.md §5; from a secret file:
    ``ecusim.secret_file.load(path).master_secret``, docs/secrets.md). ``None``: the public lab
    secret, with a warning (anyone can compute its Pass-Codes and recompute its audit chain);
    pass ``DEFAULT_MASTER_SECRET`` to choose it quietly. The audit chain's HMAC key and the
    anchors' signing key are derived from it (:mod:`ecusim.portal.audit`,
    :mod:`ecusim.portal.anchors`): the portal and whoever verifies its log need the same secret.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock | None = None,
        master_secret: bytes | None = None,
        settings: PortalSettings | None = None,
    ) -> None:
        self._sessions = session_factory
        self.settings: PortalSettings = settings if settings is not None else PortalSettings()
        """The limits this portal applies (:class:`~ecusim.portal.settings.PortalSettings`)."""
        self._clock: Clock = clock if clock is not None else SystemClock()
        if master_secret is None:
            logger.warning(
                "the portal runs on the public lab secret (anyone can compute its Pass-Codes, "
                "and its audit chain is keyed with a public key): give it the cars' master "
                "secret (docs/secrets.md)"
            )
            master_secret = DEFAULT_MASTER_SECRET
        self._master_secret = master_secret
        self._audit_key = audit.audit_key(master_secret)
        self.pages_key: bytes = derive_key(master_secret, PAGES_KEY_INFO)
        """The key of the web pages' CSRF tokens (:mod:`ecusim.portal.web.browser`)."""

    @classmethod
    def open(
        cls,
        url: str,
        clock: Clock | None = None,
        master_secret: bytes | None = None,
        settings: PortalSettings | None = None,
    ) -> Portal:
        """Connect to ``url``, bring its tables up to date and return a portal on it.

        Refuses an unsupported URL or another application's database before writing anything
        (:mod:`ecusim.portal.db`: ``UnsupportedDatabaseURLError``, ``ForeignDatabaseError``);
        a database from before keyed audit chaining has its records sealed with this portal's
        audit key (:func:`ecusim.portal.db.upgrade`).
        """
        engine = make_engine(url)
        try:
            portal = cls(make_session_factory(engine), clock, master_secret, settings)
            upgrade(engine, audit_key=portal._audit_key, now=portal.now())
        except BaseException:
            engine.dispose()
            raise
        return portal

    def now(self) -> datetime:
        return utc_now(self._clock)

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _writing(self) -> Iterator[tuple[Session, AuditHead]]:
        """A transaction holding the audit head lock; rolled back on any exception."""
        with self._writing_unlocked() as session:
            yield session, audit.lock_head(session)

    @contextmanager
    def _writing_unlocked(self) -> Iterator[Session]:
        """A writing transaction that locks the audit head later (:func:`audit.lock_head`), so
        that its reads run before it queues behind other writers; rolled back on any exception.
        On SQLite the transaction holds the write lock from its start anyway."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:  # a rule the checks missed, or a lost race
            raise ConflictError(f"the database refused the change: {exc.orig}") from exc

    # -- the audit chain ------------------------------------------------------------------------

    def _record(self, session: Session, head: AuditHead, **fields: Any) -> AuditRecord:
        """Append an audit record in ``session``'s transaction (``head`` locked), keyed."""
        return audit.append(session, head, key=self._audit_key, **fields)

    def _record_for_request(
        self, session: Session, head: AuditHead, request: ResetRequest, **fields: Any
    ) -> AuditRecord:
        """Append an audit record about ``request`` (its dealer, number, VIN, repair order)."""
        return audit.append_for_request(session, head, request, key=self._audit_key, **fields)

    # -- look-ups (inside a transaction) ------------------------------------------------------

    @staticmethod
    def _staff(session: Session, username: str, field: str = "username") -> Staff:
        staff = session.execute(
            select(Staff).where(Staff.username == username)
        ).scalar_one_or_none()
        if staff is None:
            raise NotFoundError(f"no staff member {username!r}", field=field)
        return staff

    @staticmethod
    def _enrolled_staff(session: Session, username: str) -> Staff:
        staff = Portal._staff(session, username)
        if not staff.enrolled:
            raise PermissionDeniedError(
                f"{username} is not enrolled in the pass-code programme", field="username"
            )
        return staff

    @staticmethod
    def _same_dealer(staff: Staff, dealer_code: str) -> None:
        """Another dealer's objects answer as if they did not exist (no enumeration)."""
        if dealer_code != staff.dealer_code:
            raise NotFoundError(f"no dealer {dealer_code}", field="dealer")

    @staticmethod
    def _manager(session: Session, username: str) -> Staff:
        """The user, who must be an approving manager: the audit log and the NICB export hold
        VINs and repair orders, for managers only [LAB]."""
        staff = Portal._staff(session, username)
        if not _can_approve(staff):
            raise PermissionDeniedError(
                f"{staff.username} ({staff.job_title}) is not an approving manager",
                field="job_title",
            )
        return staff

    @staticmethod
    def _require_two_managers(session: Session, dealer_code: str) -> None:
        titles = session.scalars(
            select(Staff.job_title).where(Staff.dealer_code == dealer_code, Staff.enrolled)
        ).all()
        managers = sum(1 for title in titles if rules.is_approving_title(title))
        if managers < rules.MIN_ENROLLED_MANAGERS:
            raise PermissionDeniedError(
                f"dealer {dealer_code} has {managers} enrolled approving manager(s); "
                f"at least {rules.MIN_ENROLLED_MANAGERS} are needed to obtain pass-codes",
                field="dealer",
            )

    @staticmethod
    def _request(session: Session, number: str, *, lock: bool = False) -> ResetRequest:
        key = rules.require_key("request_number", str(number), rules.MAX_REQUEST_NUMBER_LENGTH)
        statement = select(ResetRequest).where(ResetRequest.number == key.strip())
        if lock:
            statement = statement.with_for_update()
        else:  # the approval in the same query (FOR UPDATE cannot take an outer join's side)
            statement = statement.options(joinedload(ResetRequest.approval))
        request = session.execute(statement).scalar_one_or_none()
        if request is None:
            raise NotFoundError(f"no request No. {number}", field="request_number")
        return request

    def _view(self, session: Session, request: ResetRequest, now: datetime) -> RequestView:
        approval = request.approval
        refused_by = session.get(Staff, request.refused_by_id) if request.refused_by_id else None
        closed_by_id = approval.closed_by_id if approval else None
        closed_by = session.get(Staff, closed_by_id) if closed_by_id else None
        return RequestView(
            number=request.number,
            dealer_code=request.dealer_code,
            dealer_name=request.dealer.name,
            technician_username=request.technician.username,
            technician_name=request.technician.name,
            vin=request.vin,
            repair_order=request.repair_order,
            customer_last_name=request.customer_last_name,
            status=_effective_status(request, now),
            created_at=request.created_at,
            expires_at=request.expires_at,
            approved_by=approval.manager.name if approval else None,
            approved_at=approval.approved_at if approval else None,
            valid_until=approval.valid_until if approval else None,
            refused_by=refused_by.name if refused_by else None,
            refused_at=request.refused_at,
            refusal_reason=request.refusal_reason,
            closed_at=approval.closed_at if approval else None,
            closed_by=closed_by.name if closed_by else None,
        )

    @staticmethod
    def _next_request_number(session: Session, now: datetime) -> str:
        prefix = now.strftime("%y%m%d")
        last = session.scalar(
            select(func.max(ResetRequest.number)).where(ResetRequest.number.like(f"{prefix}%"))
        )
        sequence = int(last[len(prefix) :]) + 1 if last else 1
        if sequence >= 10**REQUEST_SEQUENCE_DIGITS:
            raise ConflictError(f"no request numbers left for {now:%Y-%m-%d} (UTC)")
        return f"{prefix}{sequence:0{REQUEST_SEQUENCE_DIGITS}d}"

    # -- administration -----------------------------------------------------------------------

    def enroll_dealer(self, code: str, name: str, *, actor: str = "admin") -> DealerView:
        """Add a dealer (dealer code: letters and digits, at most 16)."""
        code = rules.require_text("dealer_code", code, 16)
        if not code.isascii() or not code.isalnum():
            raise ValidationError("dealer_code", "letters and digits only")
        name = rules.require_text("dealer_name", name, 120)
        with self._writing() as (session, head):
            if session.get(Dealer, code) is not None:
                raise ConflictError(f"dealer {code} already exists", field="dealer_code")
            now = self.now()
            session.add(Dealer(code=code, name=name, created_at=now))
            self._record(
                session,
                head,
                at=now,
                actor=actor,
                action=Action.ENROLL_DEALER,
                dealer_code=code,
                details={"name": name},
            )
        return DealerView(code=code, name=name)

    def add_staff(
        self,
        dealer_code: str,
        username: str,
        name: str,
        job_title: str,
        password: str,
        *,
        enrolled: bool = True,
        actor: str = "admin",
    ) -> StaffView:
        """Add a staff member; an approving job title makes them a manager (portal-rules.md).

        The password must pass :func:`~ecusim.portal.passwords.check_new_password` (ASVS V2.1);
        it is stored as an scrypt hash at cost ``settings.scrypt_n``.
        """
        username = rules.require_text("username", username, 64)
        if any(char.isspace() for char in username):
            raise ValidationError("username", "must not contain spaces")
        name = rules.require_text("name", name, 120)
        job_title = rules.require_text("job_title", job_title, 60)
        check_new_password(password, username)
        password_hash = hash_password(password, self.settings.scrypt_n)
        with self._writing() as (session, head):
            if session.get(Dealer, dealer_code) is None:
                raise NotFoundError(f"no dealer {dealer_code}", field="dealer_code")
            taken = session.scalar(select(Staff.id).where(Staff.username == username))
            if taken is not None:
                raise ConflictError(f"username {username!r} is taken", field="username")
            now = self.now()
            staff = Staff(
                dealer_code=dealer_code,
                name=name,
                username=username,
                job_title=job_title,
                password_hash=password_hash,
                enrolled=bool(enrolled),
                created_at=now,
            )
            session.add(staff)
            self._record(
                session,
                head,
                at=now,
                actor=actor,
                action=Action.ADD_STAFF,
                dealer_code=dealer_code,
                details={
                    "username": username,
                    "name": name,
                    "job_title": job_title,
                    "enrolled": bool(enrolled),
                },
            )
            return _staff_view(staff)

    def authenticate(self, username: str, password: str) -> StaffView:
        """Return the user if the password matches; else :class:`AuthenticationError` (which
        never says whether the user exists: an unknown user costs one hash at the configured
        cost too). A hash weaker than ``settings.scrypt_n`` is replaced by a new one at that cost
        (:meth:`_upgrade_hash`)."""
        rules.require_key("username", username, rules.MAX_USERNAME_LENGTH)
        with self._reading() as session:
            staff = session.execute(
                select(Staff).where(Staff.username == username)
            ).scalar_one_or_none()
            stored = staff.password_hash if staff is not None else None
            view = _staff_view(staff) if staff is not None else None
            staff_id = staff.id if staff is not None else None
        if not verify_password(password, stored, self.settings.scrypt_n) or view is None:
            logger.info("authentication failed for %r", username)
            raise AuthenticationError("wrong username or password", field="password")
        assert stored is not None and staff_id is not None
        if needs_rehash(stored, self.settings.scrypt_n):
            self._upgrade_hash(staff_id, stored, password)
        return view

    # -- sessions, the failure throttle and step-up (ASVS V2.2, V3) ---------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A writing transaction without the audit head: sessions are not audited."""
        with self._sessions() as session, session.begin():
            yield session

    def _verify(
        self, kind: FailureKind, username: str, password: str, client_address: str | None
    ) -> StaffView:
        """The throttled password check (:mod:`ecusim.portal.throttle`): over a budget it is
        refused (:class:`~ecusim.portal.errors.RateLimitedError`) before any hash is computed.
        The admission is committed as a provisional failure before the hash, so concurrent
        attempts cannot exceed the budget; a right password deletes it (a login also forgets
        the account's failed logins), a wrong one keeps it and is audited and refused."""
        rules.require_key("username", username, rules.MAX_USERNAME_LENGTH)  # before any SQL
        with self._transaction() as session:
            attempt = throttle.reserve(
                session,
                self.settings,
                self.now(),
                kind,
                username=username,
                client_address=client_address,
            )
        try:
            view = self.authenticate(username, password)
        except AuthenticationError:
            self._record_failure(username, client_address, attempt)
            if kind is FailureKind.LOGIN:
                raise
            raise AuthenticationError("wrong password", field="password") from None
        except Exception:  # not a wrong password (the database failed): not a failure
            with self._transaction() as session:
                throttle.release(session, attempt, username, login=False)
            raise
        with self._transaction() as session:
            throttle.release(session, attempt, username, login=kind is FailureKind.LOGIN)
        return view

    def _record_failure(
        self, username: str, client_address: str | None, attempt: throttle.Attempt
    ) -> None:
        """One failed login or re-entry: its ``auth_failure`` row confirmed and an audit record
        (the user's dealer if the user exists), plus ``throttled`` for each budget it used up."""
        kind = attempt.kind
        action = Action.LOGIN_FAILED if kind is FailureKind.LOGIN else Action.PASSWORD_FAILED
        actor = throttle.key(username) or ""
        address = throttle.key(client_address)
        logger.warning("%s: %r from %s", action, actor, address)
        with self._writing() as (session, head):
            now = self.now()
            dealer_code = session.scalar(select(Staff.dealer_code).where(Staff.username == actor))
            throttle.confirm(session, attempt)
            fields = {"at": now, "actor": actor, "dealer_code": dealer_code}
            self._record(
                session, head, action=action, details={"client_address": address}, **fields
            )
            for scope in attempt.reaches:
                logger.warning("throttled: the %s of %r from %s", scope, actor, address)
                self._record(
                    session,
                    head,
                    action=Action.THROTTLED,
                    details={
                        "client_address": address,
                        "scope": scope.value,
                        "window_s": int(self.settings.failure_window.total_seconds()),
                    },
                    **fields,
                )

    def login(
        self, username: str, password: str, client_address: str | None
    ) -> tuple[str, datetime, StaffView]:
        """Check the password (throttled) and open a login session: its bearer token (only its
        SHA-256 is stored), when it expires (``settings.session_lifetime`` on the portal's
        clock) and the user. A successful login forgets the account's failed logins."""
        self._verify(FailureKind.LOGIN, username, password, client_address)
        with self._transaction() as session:
            staff = self._staff(session, username, field="password")
            token, expires_at = login_sessions.open_session(
                session,
                staff,
                throttle.key(client_address),
                self.now(),
                self.settings.session_lifetime,
            )
            return token, expires_at, _staff_view(staff)

    def session(self, token: str | None) -> SessionInfo:
        """The live session of ``token`` with its user as stored now (role and enrolment
        current); :class:`AuthenticationError` on ``authorization`` if the token is missing,
        unknown, expired or revoked."""
        with self._reading() as session:
            row = login_sessions.read(session, token, self.now())
            return login_sessions.info(row, _staff_view(row))

    def logout(self, token: str | None) -> None:
        """End the session of ``token`` (ASVS V3.3.1); a dead token is an
        :class:`AuthenticationError` as for any call."""
        with self._transaction() as session:
            now = self.now()
            login, _staff = login_sessions.find(session, token, now)
            login.revoked_at = now

    def step_up(self, token: str | None, password: str, client_address: str | None) -> SessionInfo:
        """Re-enter the password (throttled, ASVS V2.2.1): the session may obtain Pass-Codes
        without it for ``settings.step_up_window`` (audited as ``step-up``)."""
        current = self.session(token)
        self._verify(FailureKind.PASSWORD, current.user.username, password, client_address)
        return self._open_step_up(token, client_address)

    def _open_step_up(self, token: str | None, client_address: str | None) -> SessionInfo:
        with self._writing() as (session, head):
            now = self.now()
            login, staff = login_sessions.find(session, token, now)
            login.step_up_until = now + self.settings.step_up_window
            self._record(
                session,
                head,
                at=now,
                actor=staff.username,
                action=Action.STEP_UP,
                dealer_code=staff.dealer_code,
                details={
                    "client_address": throttle.key(client_address),
                    "until": login.step_up_until.isoformat(),
                },
            )
            return login_sessions.info(login, _staff_view(staff))

    def change_staff(
        self,
        actor: str,
        username: str,
        *,
        enrolled: bool | None = None,
        job_title: str | None = None,
        admin: bool = False,
    ) -> StaffView:
        """Change a member's enrolment and/or job title and revoke all their sessions in the
        same transaction (ASVS V3.3.3), audited as ``change-staff``.

        ``admin``: ``actor`` is a label (the command line's ``cli``), trusted. Otherwise
        ``actor`` is a username: an enrolled approving manager (else
        :class:`PermissionDeniedError`) of the member's dealer (another dealer's member:
        :class:`NotFoundError`).
        """
        if enrolled is None and job_title is None:
            raise ValidationError(
                "job_title", "nothing to change: give a job title, enrolled or both"
            )
        if job_title is not None:
            job_title = rules.require_text("job_title", job_title, 60)
        with self._writing() as (session, head):
            now = self.now()
            if admin:
                member = self._staff(session, username)
            else:
                manager = self._manager(session, actor)
                member = self._staff(session, username)
                if member.dealer_code != manager.dealer_code:  # as if absent
                    raise NotFoundError(f"no staff member {username!r}", field="username")
            before = {"job_title": member.job_title, "enrolled": member.enrolled}
            if job_title is not None:
                member.job_title = job_title
            if enrolled is not None:
                member.enrolled = bool(enrolled)
            session.flush()
            revoked = login_sessions.revoke_all(session, member.id, now)
            self._record(
                session,
                head,
                at=now,
                actor=actor,
                action=Action.CHANGE_STAFF,
                dealer_code=member.dealer_code,
                details={
                    "username": member.username,
                    "job_title": member.job_title,
                    "enrolled": member.enrolled,
                    "before": before,
                    "sessions_revoked": revoked,
                },
            )
            return _staff_view(member)

    def _upgrade_hash(self, staff_id: int, stored: str, password: str) -> None:
        """Re-hash a just verified password at ``settings.scrypt_n`` (ASVS V2.4.3).

        A small write of its own, not audited, without the audit head lock: it replaces the
        hash only if it is still ``stored`` (a password changed meanwhile stays). A failure is
        logged and the login goes on: the old hash still works.
        """
        fresh = hash_password(password, self.settings.scrypt_n)
        try:
            with self._sessions() as session, session.begin():
                session.execute(
                    update(Staff)
                    .where(Staff.id == staff_id, Staff.password_hash == stored)
                    .values(password_hash=fresh)
                )
        except SQLAlchemyError as exc:
            logger.warning("could not upgrade the password hash of staff %s: %s", staff_id, exc)

    # -- the procedure ------------------------------------------------------------------------

    def create_request(
        self,
        username: str,
        vin: str,
        repair_order: str,
        customer_last_name: str,
        confirmations: IdentificationConfirmations,
    ) -> RequestView:
        """Send a reset request to the dealer's managers (bulletin Sections 2 and 3).

        Refused (:class:`ConflictError` on ``vin``) if the dealer already holds a valid approval
        for the VIN, not closed, or an unexpired request for it awaiting approval: that one is to
        be used (bulletin Section 3 note). A closed, refused or expired one does not count.
        """
        vin = rules.validate_vin_field(vin)
        repair_order = rules.require_text("repair_order", repair_order)
        customer_last_name = rules.require_text("customer_last_name", customer_last_name)
        rules.check_confirmations(confirmations, "confirmations")
        with self._writing() as (session, head):
            now = self.now()
            technician = self._enrolled_staff(session, username)
            self._require_two_managers(session, technician.dealer_code)
            self._refuse_second_approval(session, technician.dealer_code, vin, now)
            self._refuse_second_request(session, technician.dealer_code, vin, now)
            request = ResetRequest(
                number=self._next_request_number(session, now),
                dealer_code=technician.dealer_code,
                technician_id=technician.id,
                vin=vin,
                repair_order=repair_order,
                customer_last_name=customer_last_name,
                confirm_customer_authority=True,
                confirm_customer_identity=True,
                confirm_vehicle_registration=True,
                confirm_terms=True,
                status=RequestStatus.REQUESTED,
                created_at=now,
                expires_at=now + rules.REQUEST_VALIDITY,
            )
            session.add(request)
            session.flush()
            self._record_for_request(
                session,
                head,
                request,
                at=now,
                actor=technician.username,
                action=Action.REQUEST,
                details={
                    "technician": technician.name,
                    "customer_last_name": customer_last_name,
                    "expires_at": request.expires_at.isoformat(),
                },
            )
            return self._view(session, request, now)

    @staticmethod
    def _refuse_second_approval(
        session: Session, dealer_code: str, vin: str, now: datetime
    ) -> None:
        """:class:`ConflictError` on ``vin``, naming it, if the dealer holds an open approval for
        ``vin`` (not closed, not expired): one approval per car at a time (bulletin Section 3
        note), so its rate limit and its close cannot be sidestepped with a second one. Checked
        after the audit head lock: racing workers leave one."""
        approval = session.execute(
            select(Approval)
            .join(Approval.request)
            .where(
                ResetRequest.dealer_code == dealer_code,
                ResetRequest.vin == vin,
                Approval.valid_until >= now,
                Approval.closed_at.is_(None),
            )
            .order_by(Approval.valid_until.desc())
        ).scalar()
        if approval is not None:
            raise ConflictError(
                f"request No. {approval.request_number} is approved for {vin} until "
                f"{approval.valid_until:%Y-%m-%d %H:%M} UTC: use that approval",
                field="vin",
            )

    @staticmethod
    def _refuse_second_request(session: Session, dealer_code: str, vin: str, now: datetime) -> None:
        """:class:`ConflictError` on ``vin``, naming it, if a request of the dealer for ``vin``
        awaits approval (unexpired): that request is the one to approve."""
        pending = session.execute(
            select(ResetRequest)
            .where(
                ResetRequest.dealer_code == dealer_code,
                ResetRequest.vin == vin,
                ResetRequest.status == RequestStatus.REQUESTED,
                ResetRequest.expires_at >= now,
            )
            .order_by(ResetRequest.created_at)
        ).scalar()
        if pending is not None:
            raise ConflictError(
                f"request No. {pending.number} for {vin} is awaiting approval until "
                f"{pending.expires_at:%Y-%m-%d %H:%M} UTC: use that request",
                field="vin",
            )

    def get_request(self, username: str, request_number: str) -> RequestView:
        """One request of the user's own dealer."""
        with self._reading() as session:
            staff = self._staff(session, username)
            request = self._request(session, request_number)
            if request.dealer_code != staff.dealer_code:
                raise NotFoundError(f"no request No. {request_number}", field="request_number")
            return self._view(session, request, self.now())

    def find_approval(self, username: str, vin: str) -> RequestView | None:
        """The request whose approval the user's dealer can use now for ``vin`` (valid, not
        closed), if any."""
        vin = rules.validate_vin_field(vin)
        with self._reading() as session:
            staff = self._staff(session, username)
            now = self.now()
            request = session.execute(
                select(ResetRequest)
                .join(ResetRequest.approval)
                .where(
                    ResetRequest.dealer_code == staff.dealer_code,
                    ResetRequest.vin == vin,
                    Approval.valid_until >= now,
                    Approval.closed_at.is_(None),
                )
                .order_by(Approval.valid_until.desc())
            ).scalar()
            return self._view(session, request, now) if request is not None else None

    def inbox(self, username: str) -> Inbox:
        """Requests awaiting the user's approval (managers) and the user's own requests."""
        with self._reading() as session:
            staff = self._staff(session, username)
            now = self.now()
            awaiting: tuple[RequestView, ...] = ()
            if _can_approve(staff):
                pending = session.scalars(
                    select(ResetRequest)
                    .where(
                        ResetRequest.dealer_code == staff.dealer_code,
                        ResetRequest.status == RequestStatus.REQUESTED,
                        ResetRequest.expires_at >= now,
                        ResetRequest.technician_id != staff.id,
                    )
                    .order_by(ResetRequest.created_at)
                ).all()
                awaiting = tuple(self._view(session, request, now) for request in pending)
            own = session.scalars(
                select(ResetRequest)
                .where(ResetRequest.technician_id == staff.id)
                .order_by(ResetRequest.created_at.desc())
            ).all()
            return Inbox(
                awaiting_approval=awaiting,
                my_requests=tuple(self._view(session, request, now) for request in own),
            )

    def _decidable(
        self, session: Session, username: str, request_number: str, now: datetime
    ) -> tuple[Staff, ResetRequest]:
        """Check that ``username`` may approve or refuse the request now; lock the request."""
        manager = self._staff(session, username)
        request = self._request(session, request_number, lock=True)
        if request.dealer_code != manager.dealer_code:  # another dealer's: as if absent
            raise NotFoundError(f"no request No. {request_number}", field="request_number")
        if not rules.is_approving_title(manager.job_title):
            raise PermissionDeniedError(
                f"job title {manager.job_title!r} cannot approve pass-code requests",
                field="job_title",
            )
        if not manager.enrolled:
            raise PermissionDeniedError(
                f"{username} is not enrolled in the pass-code programme", field="username"
            )
        if request.technician_id == manager.id:
            raise PermissionDeniedError(
                "a request must be approved by a manager other than the requester",
                field="username",
            )
        self._require_two_managers(session, manager.dealer_code)
        status = _effective_status(request, now)
        if status == RequestStatus.EXPIRED:
            raise ExpiredError(
                f"request No. {request.number} expired at "
                f"{request.expires_at:%Y-%m-%d %H:%M:%S} UTC: a new request is needed",
                field="request_number",
            )
        if status != RequestStatus.REQUESTED:
            raise ConflictError(
                f"request No. {request.number} is already {status}", field="request_number"
            )
        return manager, request

    def approve(
        self, username: str, request_number: str, confirmations: ApprovalConfirmations
    ) -> RequestView:
        """Approve a request (bulletin Section 4): valid 72 h [LAB] until closed
        (:meth:`close_approval`), for at most ``settings.issue_rate_limit`` new seeds per
        ``settings.issue_rate_window``. Refused (:class:`ConflictError` on ``vin``) while the
        dealer holds another open approval for the VIN: one per car at a time."""
        rules.check_confirmations(confirmations, "confirmations")
        with self._writing() as (session, head):
            now = self.now()
            manager, request = self._decidable(session, username, request_number, now)
            self._refuse_second_approval(session, request.dealer_code, request.vin, now)
            approval = Approval(
                request_number=request.number,
                manager_id=manager.id,
                confirm_details_verified=True,
                confirm_nicb_log=True,
                confirm_terms=True,
                approved_at=now,
                valid_until=now + rules.APPROVAL_VALIDITY,
            )
            request.approval = approval
            request.status = RequestStatus.APPROVED
            session.flush()
            self._record_for_request(
                session,
                head,
                request,
                at=now,
                actor=manager.username,
                action=Action.APPROVE,
                details={
                    "manager": manager.name,
                    "job_title": manager.job_title,
                    "valid_until": approval.valid_until.isoformat(),
                },
            )
            return self._view(session, request, now)

    def refuse(self, username: str, request_number: str, reason: str) -> RequestView:
        """Decline a request, with a reason shown to the technician."""
        reason = rules.require_text("reason", reason, 200)
        with self._writing() as (session, head):
            now = self.now()
            manager, request = self._decidable(session, username, request_number, now)
            request.status = RequestStatus.REFUSED
            request.refused_by_id = manager.id
            request.refused_at = now
            request.refusal_reason = reason
            session.flush()
            self._record_for_request(
                session,
                head,
                request,
                at=now,
                actor=manager.username,
                action=Action.REFUSE,
                details={"manager": manager.name, "reason": reason},
            )
            return self._view(session, request, now)

    def issue_pass_code(
        self,
        username: str,
        request_number: str,
        password: str,
        tool_version: str,
        seed: str,
        *,
        client_address: str | None = throttle.CLI_ADDRESS,
    ) -> IssuedPassCode:
        """Give the Pass-Code for a Seed Number under an approval (bulletin Section 5).

        The user re-enters the password, checked every time and throttled by username and
        ``client_address`` (the command line's is ``cli``); any enrolled staff member of the
        approving dealer may use a valid approval until it is closed or expires, within the
        per-approval rate limit (``settings.issue_rate_limit``). Only the seed's SHA-256 is
        stored. A login session uses :meth:`issue_pass_code_in_session`.
        """
        tool_version, seed_bytes = self._issue_input(request_number, tool_version, seed)
        self._check_issue_password(username, password, client_address)
        return self._issue(username, request_number, tool_version, seed_bytes)

    @staticmethod
    def _issue_input(request_number: str, tool_version: str, seed: str) -> tuple[str, bytes]:
        """The tool version and the seed's bytes of a Pass-Code request, checked first. A
        malformed number is bad input (422), not an attempt on a request: not audited."""
        rules.require_key("request_number", request_number, rules.MAX_REQUEST_NUMBER_LENGTH)
        return rules.validate_tool_version(tool_version), rules.validate_seed(seed)

    def _check_issue_password(
        self, username: str, password: str, client_address: str | None = throttle.CLI_ADDRESS
    ) -> None:
        """The password re-entry before a Pass-Code (bulletin Section 5), throttled."""
        self._verify(FailureKind.PASSWORD, username, password, client_address)

    def issue_pass_code_in_session(
        self,
        token: str | None,
        request_number: str,
        password: str | None,
        tool_version: str,
        seed: str,
        *,
        client_address: str | None,
        current: SessionInfo | None = None,
    ) -> IssuedPassCode:
        """:meth:`issue_pass_code` for the user of a login session (the HTTP API).

        ``current``: the session of ``token`` as just read (:meth:`session`), else it is read.

        With ``password`` it is a re-entry: verified (throttled) and, once the Pass-Code is
        issued, the session's step-up window opens as with :meth:`step_up`. Without it the
        window must be open (else :class:`AuthenticationError` on ``password``): issues inside
        the window compute no password hash (ASVS V2.2.1, V3.7.1).
        """
        tool_version, seed_bytes = self._issue_input(request_number, tool_version, seed)
        if current is None:
            current = self.session(token)
        username = current.user.username
        if password is not None:
            self._verify(FailureKind.PASSWORD, username, password, client_address)
        elif not current.stepped_up(self.now()):
            raise AuthenticationError(
                "re-enter your password (POST /step-up, or send it with the request)",
                field="password",
            )
        issued = self._issue(username, request_number, tool_version, seed_bytes)
        if password is not None:
            try:
                self._open_step_up(token, client_address)
            except AuthenticationError:  # revoked meanwhile: the code is issued all the same
                logger.warning("session of %r ended while a Pass-Code was issued", username)
        return issued

    def _issue(
        self, username: str, request_number: str, tool_version: str, seed_bytes: bytes
    ) -> IssuedPassCode:
        """The Pass-Code for ``seed_bytes`` under the request's approval, recorded once.

        One writing transaction: the rules are read first; then, with the approval's row locked
        (issues under one approval run one after the other, on every worker), a seed already
        issued under it gets the same code and its first ``issued_at`` again, writing nothing;
        else at most ``settings.issue_rate_limit`` new issues per approval within
        ``settings.issue_rate_window`` (:class:`RateLimitedError`; OWASP ASVS V11.1.4). The
        audit head is locked last, for the audit record only.
        A refusal rolls back, then is audited on its own (:meth:`_audit_refused_issue`), or
        answered with :class:`RateLimitedError` past the user's budget of audited refusals.
        """
        digest = seed_sha256(seed_bytes)
        try:
            with self._writing_unlocked() as session:
                # The rules on what is read before the head lock (other writers go on) …
                staff, request, approval = self._usable_approval(
                    session, username, request_number, self.now()
                )
                # … and, with the approval's row locked (issues under other approvals go on),
                # what another writer may have changed meanwhile: the approval's state, this
                # seed's first issue and the issues in the window.
                now = self.now()
                first, recent = self._issues_so_far(session, approval, digest, now)
                self._check_open(request, approval, now)
                issued = IssuedPassCode(
                    pass_code=format_code(pass_code(request.vin, seed_bytes, self._master_secret)),
                    request_number=request.number,
                    vin=request.vin,
                    seed_sha256=digest,
                    issued_at=now if first is None else first,
                    approval_valid_until=approval.valid_until,
                )
                if first is not None:  # the same seed again: the same code, one record
                    return issued
                self._check_issue_rate(session, request, approval, now, recent)
                session.execute(  # a plain statement: the unit of work costs more
                    insert(PassCodeIssue).values(
                        approval_id=approval.id,
                        technician_id=staff.id,
                        seed_sha256=digest,
                        tool_version=tool_version,
                        issued_at=now,
                    )
                )
                # The head last: writers queue on it only for the audit record itself.
                head = audit.lock_head(session)
                self._record_for_request(
                    session,
                    head,
                    request,
                    at=now,
                    actor=staff.username,
                    action=Action.ISSUE,
                    seed_sha256=digest,
                    details={"technician": staff.name, "tool_version": tool_version},
                )
                return issued
        except PortalError as exc:
            over = self._audit_refused_issue(username, request_number, tool_version, digest, exc)
            if over is None:
                raise
            if isinstance(exc, RateLimitedError) and exc.retry_after_s > over.retry_after_s:
                raise  # over the issue rate too: its longer wait
            raise over from exc

    def _usable_approval(
        self, session: Session, username: str, request_number: str, now: datetime
    ) -> tuple[Staff, ResetRequest, Approval]:
        """The user, the request and its approval, if the user may obtain a Pass-Code now."""
        staff = self._enrolled_staff(session, username)
        request = self._request(session, request_number)
        if request.dealer_code != staff.dealer_code:  # another dealer's: as if absent
            raise NotFoundError(f"no request No. {request_number}", field="request_number")
        self._require_two_managers(session, staff.dealer_code)
        approval = request.approval
        if approval is None:
            status = _effective_status(request, now)
            raise (ExpiredError if status == RequestStatus.EXPIRED else ConflictError)(
                f"request No. {request.number} is {status}, not approved",
                field="request_number",
            )
        self._check_open(request, approval, now)
        return staff, request, approval

    @staticmethod
    def _check_open(request: ResetRequest, approval: Approval, now: datetime) -> None:
        """Refuse unless ``approval`` (of ``request``) is neither closed nor expired."""
        if _effective_status(request, now) == RequestStatus.CLOSED:
            raise ConflictError(
                f"the approval of request No. {request.number} was closed at "
                f"{approval.closed_at:%Y-%m-%d %H:%M:%S} UTC (repair completed): "
                "a new request is needed",
                field="request_number",
            )
        if now > approval.valid_until:
            raise ExpiredError(
                f"the approval of request No. {request.number} expired at "
                f"{approval.valid_until:%Y-%m-%d %H:%M:%S} UTC: a new request is needed",
                field="request_number",
            )

    def _issues_so_far(
        self, session: Session, approval: Approval, digest: str, now: datetime
    ) -> tuple[datetime | None, int]:
        """In one query, locking the approval's row: its state as committed now (``closed_at`` and
        ``valid_until``, set on ``approval``), when this seed was first issued under it
        (``None``: never) and how many Pass-Codes it gave within
        ``settings.issue_rate_window``."""
        issues = PassCodeIssue
        first = (
            select(func.min(issues.issued_at))
            .where(issues.approval_id == approval.id, issues.seed_sha256 == digest)
            .scalar_subquery()
        )
        recent = (
            select(func.count())
            .select_from(issues)
            .where(
                issues.approval_id == approval.id,
                issues.issued_at > now - self.settings.issue_rate_window,
            )
            .scalar_subquery()
        )
        # Lock first, then read in a statement of its own: on PostgreSQL (READ COMMITTED) a
        # statement that waited for a row lock still reads the rest from its older snapshot.
        # SQLite: the transaction holds the write lock from its start.
        session.execute(select(Approval.id).where(Approval.id == approval.id).with_for_update())
        row = session.execute(
            select(Approval.closed_at, Approval.valid_until, first, recent).where(
                Approval.id == approval.id
            )
        ).one()
        set_committed_value(approval, "closed_at", row[0])  # as read: not a change to write
        set_committed_value(approval, "valid_until", row[1])
        return row[2], int(row[3] or 0)

    def _check_issue_rate(
        self,
        session: Session,
        request: ResetRequest,
        approval: Approval,
        now: datetime,
        count: int,
    ) -> None:
        """At most ``settings.issue_rate_limit`` Pass-Codes per approval within the window;
        ``count``: the :class:`PassCodeIssue` rows issued after ``now - window``."""
        limit, window = self.settings.issue_rate_limit, self.settings.issue_rate_window
        if count < limit:
            return
        counted = select(PassCodeIssue.issued_at).where(
            PassCodeIssue.approval_id == approval.id, PassCodeIssue.issued_at > now - window
        )
        # The issue whose leaving the window brings the count below the limit (the oldest,
        # unless the limit was lowered since).
        edge = session.scalar(
            counted.order_by(PassCodeIssue.issued_at).offset(count - limit).limit(1)
        )
        assert edge is not None
        raise RateLimitedError(
            f"{count} Pass-Codes were issued under request No. {request.number} within "
            f"{_duration(window)}; at most {limit} are allowed: try again later",
            field="request_number",
            retry_after_s=math.ceil((edge + window - now).total_seconds()),
        )

    def _audit_refused_issue(
        self,
        username: str,
        request_number: str,
        tool_version: str,
        digest: str,
        error: PortalError,
    ) -> RateLimitedError | None:
        """One :data:`Action.ISSUE_REFUSED` record, in its own transaction after the refused
        one rolled back (OWASP ASVS V7.2.2: failed access decisions are logged), within the
        user's budget (:meth:`_refused_issue_budget`); past it nothing is written and the
        :class:`RateLimitedError` to answer instead is returned (ASVS V11.1.4). A first count in
        a read-only transaction answers a call past the budget without taking the audit head
        lock; the count that decides is repeated under the lock.

        About the request when it is the user's dealer's; else (unknown number, another
        dealer's) under the user's dealer with only the number as typed in ``details``: the
        other dealer's VIN and repair order are not copied into this dealer's log. A failure to
        write it is logged and the original error is still raised.
        """
        number = str(request_number).strip()
        actor = username[:ACTOR_CHARS]
        details: dict[str, Any] = {
            "reason": error.reason,
            "status": error.http_status,
            "field": error.field,
            "tool_version": tool_version,
        }
        try:
            with self._reading() as session:  # over budget: answered without the head lock
                over = self._refused_issue_budget(session, actor, self.now())
            if over is not None:
                logger.warning("refused Pass-Code attempts of %r over budget", actor)
                return over
            with self._writing() as (session, head):
                now = self.now()
                over = self._refused_issue_budget(session, actor, now)  # again, locked
                if over is not None:
                    return over
                staff = session.execute(
                    select(Staff).where(Staff.username == username)
                ).scalar_one_or_none()
                fits = len(number) <= REQUEST_NUMBER_CHARS
                request = session.get(ResetRequest, number) if fits else None
                fields: dict[str, Any] = {
                    "at": now,
                    "actor": actor,
                    "action": Action.ISSUE_REFUSED,
                    "seed_sha256": digest,
                }
                dealer_code = staff.dealer_code if staff is not None else None
                if request is not None and dealer_code == request.dealer_code:
                    self._record_for_request(session, head, request, **fields, details=details)
                    return None
                details["request_number"] = number[:REQUEST_NUMBER_CHARS]
                self._record(session, head, **fields, dealer_code=dealer_code, details=details)
        except (PortalError, SQLAlchemyError):
            logger.exception("could not audit a refused pass-code issue for %r", username)
        return None

    def _refused_issue_budget(
        self, session: Session, actor: str, now: datetime
    ) -> RateLimitedError | None:
        """The error to answer if ``actor`` already has ``settings.refused_issue_budget``
        ``issue-refused`` records within ``settings.failure_window``, else ``None``.

        Counted from the audit log in the writing transaction, after the head lock, so the
        budget holds across workers; ``Retry-After`` is when enough counted records leave the
        window (the oldest, unless the budget was lowered).
        """
        budget, window = self.settings.refused_issue_budget, self.settings.failure_window
        counted = select(AuditRecord.at).where(
            AuditRecord.at > now - window,
            AuditRecord.action == Action.ISSUE_REFUSED,
            AuditRecord.actor == actor,
        )
        count = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
        if count < budget:
            return None
        edge = session.scalar(counted.order_by(AuditRecord.at).offset(count - budget).limit(1))
        assert edge is not None
        return RateLimitedError(
            f"{count} refused Pass-Code attempts within {_duration(window)}; at most {budget} "
            "are allowed: try again later",
            field="request_number",
            retry_after_s=max(1, math.ceil((edge + window - now).total_seconds())),
        )

    def close_approval(
        self, username: str, request_number: str, note: str | None = None
    ) -> RequestView:
        """Close a request's approval: the vehicle repair is completed (bulletin Section 5).

        Afterwards no Pass-Code is issued under it (:class:`ConflictError`), :meth:`find_approval`
        no longer offers it and a new request for the VIN may be sent; the request reads
        ``closed``. Any enrolled staff member of the request's dealer may close it (the
        technician or a manager: closing only takes a right away); another dealer's request
        answers :class:`NotFoundError`. Only an approved, unexpired, open approval can be closed:
        not approved or already closed → :class:`ConflictError`, expired →
        :class:`ExpiredError` (both 409). Audited as :data:`Action.CLOSE` with the ``note``
        (at most :data:`CLOSE_NOTE_CHARS` characters; blank = none).
        """
        if note is not None and not (isinstance(note, str) and not note.strip()):
            note = rules.require_text("note", note, CLOSE_NOTE_CHARS)
        else:
            note = None
        # The approval's row is locked before the audit head, in the order a Pass-Code issue
        # takes them (approval, then head), and the request is not locked (approve and refuse
        # lock it after the head; an approved request's status no longer changes), so no two
        # writers wait for each other in a cycle.
        with self._writing_unlocked() as session:
            staff = self._enrolled_staff(session, username)
            request = self._request(session, request_number)
            if request.dealer_code != staff.dealer_code:  # another dealer's: as if absent
                raise NotFoundError(f"no request No. {request_number}", field="request_number")
            approval = session.scalars(
                select(Approval)
                .where(Approval.request_number == request.number)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one_or_none()
            head = audit.lock_head(session)
            now = self.now()
            status = _effective_status(request, now)
            if status == RequestStatus.CLOSED:
                raise ConflictError(
                    f"the approval of request No. {request.number} is already closed",
                    field="request_number",
                )
            if status == RequestStatus.EXPIRED:
                raise ExpiredError(
                    f"request No. {request.number} has expired: there is nothing to close",
                    field="request_number",
                )
            if status != RequestStatus.APPROVED or approval is None:
                raise ConflictError(
                    f"request No. {request.number} is {status}, not approved: "
                    "there is no approval to close",
                    field="request_number",
                )
            approval.closed_at = now
            approval.closed_by_id = staff.id
            session.flush()
            self._record_for_request(
                session,
                head,
                request,
                at=now,
                actor=staff.username,
                action=Action.CLOSE,
                details={"closed_by": staff.name, "job_title": staff.job_title, "note": note},
            )
            return self._view(session, request, now)

    # -- the audit log and the reports --------------------------------------------------------

    def require_manager(self, username: str) -> StaffView:
        """The user as stored now, who must be an approving manager (else
        :class:`PermissionDeniedError` on ``job_title``): the audit log and the NICB export are
        for managers only [LAB]. The reads below check it again; the HTTP API asks first, so
        that a user without the right learns nothing of the request's validation."""
        with self._reading() as session:
            return _staff_view(self._manager(session, username))

    def own_dealer(self, username: str) -> DealerView:
        """The user's own dealer: what the Key Code Reset form shows as Dealer Code and Dealer
        Name (bulletin Section 2, Figure 3)."""
        with self._reading() as session:
            staff = self._staff(session, username)
            return DealerView(code=staff.dealer_code, name=staff.dealer.name)

    def require_dealer_member(self, username: str, dealer_code: str) -> StaffView:
        """The user as stored now, who must belong to ``dealer_code`` (else
        :class:`NotFoundError` on ``dealer``: another dealer's objects are not shown to exist)."""
        with self._reading() as session:
            staff = self._staff(session, username)
            self._same_dealer(staff, dealer_code)
            return _staff_view(staff)

    def audit_records(
        self, username: str, since_seq: int = 0, limit: int = 100
    ) -> tuple[AuditRecordView, ...]:
        """The audit records of the manager's own dealer with a ``seq`` above ``since_seq`` (a
        cursor), oldest first, at most ``limit`` (1 to :data:`MAX_AUDIT_LIMIT`)."""
        if not 0 <= since_seq <= rules.MAX_AUDIT_SEQ:
            raise ValidationError(
                "since_seq", f"must be 0 to {rules.MAX_AUDIT_SEQ}, got {since_seq}"
            )
        if not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise ValidationError("limit", f"must be 1 to {MAX_AUDIT_LIMIT}, got {limit}")
        with self._reading() as session:
            manager = self._manager(session, username)
            rows = session.scalars(
                select(AuditRecord)
                .where(AuditRecord.seq > since_seq, AuditRecord.dealer_code == manager.dealer_code)
                .order_by(AuditRecord.seq)
                .limit(limit)
            ).all()
            return tuple(AuditRecordView.model_validate(row) for row in rows)

    def verify_audit(self, username: str, anchors: Sequence[Anchor] = ()) -> AuditVerification:
        """Check the whole keyed audit chain and the given signed ``anchors``
        (:func:`ecusim.portal.anchors.verify`); managers only. An anchor that proves nothing
        (bad signature, another key) is a problem on the record it names; unkeyed legacy records
        no seal covers are one too (``unkeyed``)."""
        with self._reading() as session:
            self._manager(session, username)
            result = verify_anchors(session, self._master_secret, anchors)
        found = [
            AuditProblemView(seq=problem.seq, problem=f"{problem.kind}: {problem.message}")
            for problem in result.problems
        ] + [
            AuditProblemView(seq=anchors[problem.line - 1].seq, problem=f"anchor: {problem}")
            for problem in result.anchor_problems
        ]
        return AuditVerification(ok=result.ok, problems=tuple(found), legacy=result.legacy)

    def audit_anchor(self, username: str) -> Anchor:
        """A signed anchor of the chain's head now (:func:`ecusim.portal.anchors.make_anchor`),
        to keep outside the database; managers only. A chain with any problem
        (:func:`ecusim.portal.audit.check`) is not anchored: :class:`ConflictError`."""
        with self._reading() as session:
            self._manager(session, username)
            chain = audit.check(session, self._audit_key)
            if chain.problems:
                raise ConflictError(
                    f"audit log BROKEN ({len(chain.problems)} problem(s), the first: "
                    f"{chain.problems[0]}): not anchored"
                )
            return make_anchor(session, self._master_secret, self.now())

    def transactions(
        self, username: str, start: datetime, end: datetime
    ) -> list[reports.Transaction]:
        """The vehicle security transactions and the refused or failed attempts of the
        manager's own dealer with ``start`` ≤ time < ``end`` (aware datetimes), oldest first:
        the rows of the NICB export."""
        return list(self.nicb_export(username, start, end).rows)

    def nicb_export(self, username: str, start: datetime, end: datetime) -> reports.NicbExport:
        """:meth:`transactions` and the chain's head, read in one transaction: the NICB export
        (:func:`ecusim.portal.reports.nicb_csv`)."""
        with self._reading() as session:
            manager = self._manager(session, username)
            return reports.nicb_export(session, start, end, manager.dealer_code)

    def monthly_report(
        self, username: str, dealer_code: str, year: int, month: int
    ) -> reports.MonthlyReport:
        """The Monthly Vehicle Security Transaction Report of the manager's own dealer for a UTC
        calendar month: the Dealer GM's report (customer names, VINs, ROs), approving managers
        only; another dealer's answers :class:`NotFoundError`."""
        with self._reading() as session:
            self._same_dealer(self._manager(session, username), dealer_code)
            return reports.monthly_report(session, dealer_code, year, month)
