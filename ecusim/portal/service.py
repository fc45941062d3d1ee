"""The portal's operations: one database transaction each, every rule checked before a write.

Every writing operation first locks the audit chain head (:func:`ecusim.portal.audit.lock_head`),
so writers run one after the other on both SQLite and PostgreSQL: of two managers approving the
same request at once, the second finds it approved and gets :class:`ConflictError`; racing
pass-code issues are all recorded and the chain stays unbroken. Any error raised inside the
transaction rolls it back: a refused operation leaves the database exactly as it was (refusals
are logged with :mod:`logging`, not written).

Callers identify the acting user by username; every rule about who may do or read what is checked
here, the HTTP layer only authenticates the bearer token. Issuing a pass-code re-checks the
password itself (bulletin Section 5). Reads (a request, the inbox, the audit log, the reports) run
in one read-only transaction each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ecusim.portal import audit, reports, rules
from ecusim.portal.clock import SystemClock, utc_now
from ecusim.portal.db import make_engine, make_session_factory, upgrade
from ecusim.portal.errors import (
    AuthenticationError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
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
from ecusim.portal.passwords import hash_password, verify_password
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.settings import PortalSettings
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
    "MAX_AUDIT_LIMIT",
    "Action",
    "DealerView",
    "Inbox",
    "IssuedPassCode",
    "Portal",
    "RequestView",
    "StaffView",
    "seed_sha256",
]

logger = logging.getLogger(__name__)

REQUEST_SEQUENCE_DIGITS = 5
"""Request number = ``YYMMDD`` + this many digits (``14070100021``)."""
MAX_AUDIT_LIMIT = 1000
"""Most audit records one :meth:`Portal.audit_records` call returns."""


def seed_sha256(seed: bytes) -> str:
    """Hex SHA-256 of a Seed Number's 16 bytes: all the portal keeps of a seed."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(seed)
    return digest.finalize().hex()


def _effective_status(request: ResetRequest, now: datetime) -> str:
    if request.status == RequestStatus.REQUESTED and now > request.expires_at:
        return RequestStatus.EXPIRED
    approval = request.approval
    if request.status == RequestStatus.APPROVED and approval and now > approval.valid_until:
        return RequestStatus.EXPIRED
    return request.status


def _can_approve(staff: Staff) -> bool:
    """An enrolled member with an approving job title (a manager)."""
    return staff.enrolled and rules.is_approving_title(staff.job_title)


def _staff_view(staff: Staff) -> StaffView:
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
    secret, with a warning (anyone can compute its Pass-Codes); pass
    ``DEFAULT_MASTER_SECRET`` to choose it quietly.
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
                "the portal runs on the public lab secret (anyone can compute its Pass-Codes): "
                "give it the cars' master secret (docs/secrets.md)"
            )
            master_secret = DEFAULT_MASTER_SECRET
        self._master_secret = master_secret

    @classmethod
    def open(
        cls,
        url: str,
        clock: Clock | None = None,
        master_secret: bytes | None = None,
        settings: PortalSettings | None = None,
    ) -> Portal:
        """Connect to ``url``, bring its tables up to date and return a portal on it."""
        engine = make_engine(url)
        upgrade(engine)
        return cls(make_session_factory(engine), clock, master_secret, settings)

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
        try:
            with self._sessions() as session, session.begin():
                yield session, audit.lock_head(session)
        except IntegrityError as exc:  # a rule the checks missed, or a lost race
            raise ConflictError(f"the database refused the change: {exc.orig}") from exc

    # -- the audit chain ------------------------------------------------------------------------

    def _record(self, session: Session, head: AuditHead, **fields: Any) -> AuditRecord:
        """Append an audit record in ``session``'s transaction (``head`` locked)."""
        return audit.append(session, head, **fields)

    def _record_for_request(
        self, session: Session, head: AuditHead, request: ResetRequest, **fields: Any
    ) -> AuditRecord:
        """Append an audit record about ``request`` (its dealer, number, VIN, repair order)."""
        return audit.append_for_request(session, head, request, **fields)

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
        request = session.execute(statement).scalar_one_or_none()
        if request is None:
            raise NotFoundError(f"no request No. {number}", field="request_number")
        return request

    def _view(self, session: Session, request: ResetRequest, now: datetime) -> RequestView:
        approval = request.approval
        refused_by = session.get(Staff, request.refused_by_id) if request.refused_by_id else None
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
        """Add a staff member; an approving job title makes them a manager (portal-rules.md)."""
        username = rules.require_text("username", username, 64)
        if any(char.isspace() for char in username):
            raise ValidationError("username", "must not contain spaces")
        name = rules.require_text("name", name, 120)
        job_title = rules.require_text("job_title", job_title, 60)
        password_hash = hash_password(password)
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
        never says whether the user exists)."""
        rules.require_key("username", username, rules.MAX_USERNAME_LENGTH)
        with self._reading() as session:
            staff = session.execute(
                select(Staff).where(Staff.username == username)
            ).scalar_one_or_none()
            stored = staff.password_hash if staff is not None else None
            view = _staff_view(staff) if staff is not None else None
        if not verify_password(password, stored) or view is None:
            logger.info("authentication failed for %r", username)
            raise AuthenticationError("wrong username or password", field="password")
        return view

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

        Refused if the dealer already holds a valid approval for the VIN: that approval is to be
        reused (bulletin Section 3 note).
        """
        vin = rules.validate_vin_field(vin)
        repair_order = rules.require_text("repair_order", repair_order)
        customer_last_name = rules.require_text("customer_last_name", customer_last_name)
        rules.check_confirmations(confirmations, "confirmations")
        with self._writing() as (session, head):
            now = self.now()
            technician = self._enrolled_staff(session, username)
            self._require_two_managers(session, technician.dealer_code)
            reusable = session.execute(
                select(Approval)
                .join(Approval.request)
                .where(
                    ResetRequest.dealer_code == technician.dealer_code,
                    ResetRequest.vin == vin,
                    Approval.valid_until >= now,
                )
            ).scalar()
            if reusable is not None:
                raise ConflictError(
                    f"request No. {reusable.request_number} is approved for {vin} until "
                    f"{reusable.valid_until:%Y-%m-%d %H:%M} UTC: use that approval",
                    field="vin",
                )
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

    def get_request(self, username: str, request_number: str) -> RequestView:
        """One request of the user's own dealer."""
        with self._reading() as session:
            staff = self._staff(session, username)
            request = self._request(session, request_number)
            if request.dealer_code != staff.dealer_code:
                raise NotFoundError(f"no request No. {request_number}", field="request_number")
            return self._view(session, request, self.now())

    def find_approval(self, username: str, vin: str) -> RequestView | None:
        """The request whose approval the user's dealer can use now for ``vin``, if any."""
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
        """Approve a request (bulletin Section 4): valid 72 h for any number of seeds [LAB]."""
        rules.check_confirmations(confirmations, "confirmations")
        with self._writing() as (session, head):
            now = self.now()
            manager, request = self._decidable(session, username, request_number, now)
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
    ) -> IssuedPassCode:
        """Give the Pass-Code for a Seed Number under an approval (bulletin Section 5).

        The user re-enters the password; any enrolled staff member of the approving dealer may
        use a valid approval, as often as needed [LAB]. Only the seed's SHA-256 is stored.
        """
        tool_version = rules.validate_tool_version(tool_version)
        seed_bytes = rules.validate_seed(seed)
        self._check_issue_password(username, password)
        return self._issue(username, request_number, tool_version, seed_bytes)

    def _check_issue_password(self, username: str, password: str) -> None:
        """The password re-entry before a Pass-Code (bulletin Section 5)."""
        with self._reading() as session:
            stored = session.scalar(select(Staff.password_hash).where(Staff.username == username))
        if not verify_password(password, stored):
            logger.info("pass-code refused: wrong password for %r", username)
            raise AuthenticationError("wrong password", field="password")

    def _issue(
        self, username: str, request_number: str, tool_version: str, seed_bytes: bytes
    ) -> IssuedPassCode:
        """The Pass-Code for ``seed_bytes`` under the request's approval, recorded."""
        with self._writing() as (session, head):
            now = self.now()
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
            if now > approval.valid_until:
                raise ExpiredError(
                    f"the approval of request No. {request.number} expired at "
                    f"{approval.valid_until:%Y-%m-%d %H:%M:%S} UTC: a new request is needed",
                    field="request_number",
                )
            code = pass_code(request.vin, seed_bytes, self._master_secret)
            digest = seed_sha256(seed_bytes)
            session.add(
                PassCodeIssue(
                    approval_id=approval.id,
                    technician_id=staff.id,
                    seed_sha256=digest,
                    tool_version=tool_version,
                    issued_at=now,
                )
            )
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
            return IssuedPassCode(
                pass_code=format_code(code),
                request_number=request.number,
                vin=request.vin,
                seed_sha256=digest,
                issued_at=now,
                approval_valid_until=approval.valid_until,
            )

    # -- the audit log and the reports --------------------------------------------------------

    def require_manager(self, username: str) -> StaffView:
        """The user as stored now, who must be an approving manager (else
        :class:`PermissionDeniedError` on ``job_title``): the audit log and the NICB export are
        for managers only [LAB]. The reads below check it again; the HTTP API asks first, so
        that a user without the right learns nothing of the request's validation."""
        with self._reading() as session:
            return _staff_view(self._manager(session, username))

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

    def verify_audit(self, username: str) -> AuditVerification:
        """Check the whole audit hash chain (:func:`ecusim.portal.audit.verify`); managers only."""
        with self._reading() as session:
            self._manager(session, username)
            problems = audit.verify(session)
        return AuditVerification(
            ok=not problems,
            problems=tuple(
                AuditProblemView(seq=problem.seq, problem=f"{problem.kind}: {problem.message}")
                for problem in problems
            ),
        )

    def transactions(
        self, username: str, start: datetime, end: datetime
    ) -> list[reports.Transaction]:
        """The vehicle security transactions of the manager's own dealer with ``start`` ≤ time
        < ``end`` (aware datetimes), oldest first: the rows of the NICB export."""
        with self._reading() as session:
            manager = self._manager(session, username)
            return reports.transactions(session, start, end, manager.dealer_code)

    def monthly_report(
        self, username: str, dealer_code: str, year: int, month: int
    ) -> reports.MonthlyReport:
        """The Monthly Vehicle Security Transaction Report of the manager's own dealer for a UTC
        calendar month: the Dealer GM's report (customer names, VINs, ROs), approving managers
        only; another dealer's answers :class:`NotFoundError`."""
        with self._reading() as session:
            self._same_dealer(self._manager(session, username), dealer_code)
            return reports.monthly_report(session, dealer_code, year, month)
