"""A small typed client of the portal's HTTP API v1 (``/api/v1``), over httpx.

It is what a scan tool uses to obtain a Pass-Code: log in, find or create the reset request, let
a manager approve it, and issue the Pass-Code for the Seed Number the car gave::

    with PortalClient("http://127.0.0.1:8077") as portal:
        portal.login("carol", password)
        approval = portal.find_approval(vin) or portal.create_request(
            vin, "RO-4711", "Smith", IdentificationConfirmations.all_confirmed()
        )
        ...  # a manager approves (portal.approve) in their own session
        issued = portal.issue_pass_code(approval.number, password, "9.10.037", seed)
        issued.pass_code  # display form, '68048306-E57DF5FB-1D818A1B-527791CD'

Results are frozen dataclasses; every error is a :class:`PortalClientError` carrying the
server's ``status``, ``field`` and ``reason`` (the contract's error body), and a server that
cannot be reached raises :class:`PortalUnreachableError` (a subclass, ``status`` 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx

from ecusim.errors import EcusimError
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from protocol.passcode import format_code

__all__ = [
    "API_PREFIX",
    "AuditProblem",
    "AuditVerification",
    "Inbox",
    "PassCodeInfo",
    "PortalClient",
    "PortalClientError",
    "PortalUnreachableError",
    "RequestInfo",
    "Session",
    "User",
]

API_PREFIX: Final = "/api/v1"
DEFAULT_TIMEOUT_S: Final = 10.0
_MAX_REASON_CHARS: Final = 200
_T = TypeVar("_T")


class PortalClientError(EcusimError):
    """The portal refused a call (``status`` is the HTTP status) or could not be reached."""

    def __init__(self, status: int, field: str | None, reason: str) -> None:
        self.status = status
        """HTTP status of the answer (422, 401, 403, 404, 409, ...); 0 without an answer."""
        self.field = field
        """The field the error is about (``"seed"``, ``"password"``), if the server named one."""
        self.reason = reason
        """A sentence for the user."""
        where = f"{field}: " if field else ""
        super().__init__(f"{where}{reason} (HTTP {status})" if status else f"{where}{reason}")


class PortalUnreachableError(PortalClientError):
    """No HTTP answer: connection refused, DNS failure, time-out, broken connection."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, None, reason)


@dataclass(frozen=True)
class User:
    username: str
    name: str
    dealer_code: str
    job_title: str
    enrolled: bool
    can_approve: bool


@dataclass(frozen=True)
class Session:
    """A login: the bearer token the client now sends, and who it belongs to."""

    token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True)
class RequestInfo:
    """A reset request as the server shows it (``status`` accounts for expiry)."""

    number: str
    dealer_code: str
    dealer_name: str
    technician_username: str
    technician_name: str
    vin: str
    repair_order: str
    customer_last_name: str
    status: str
    created_at: datetime
    expires_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    valid_until: datetime | None = None
    refused_by: str | None = None
    refused_at: datetime | None = None
    refusal_reason: str | None = None


@dataclass(frozen=True)
class Inbox:
    awaiting_approval: tuple[RequestInfo, ...]
    """For an approving manager: the dealer's open requests made by others."""
    my_requests: tuple[RequestInfo, ...]
    """The user's own requests, newest first."""


@dataclass(frozen=True)
class PassCodeInfo:
    pass_code: str
    """Display form, ``68048306-E57DF5FB-1D818A1B-527791CD`` (parse with
    :func:`protocol.passcode.parse_code`)."""
    request_number: str
    vin: str
    seed_sha256: str
    issued_at: datetime
    approval_valid_until: datetime


@dataclass(frozen=True)
class AuditProblem:
    seq: int | None
    problem: str


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    problems: tuple[AuditProblem, ...]


# -- decoding ---------------------------------------------------------------------------------


class _BadAnswerError(Exception):
    """The server's answer does not have the contract's shape."""


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _BadAnswerError(f"{key!r} is not text: {value!r}")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _BadAnswerError(f"{key!r} is not text: {value!r}")
    return value


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise _BadAnswerError(f"{key!r} is not true/false: {value!r}")
    return value


def _time(data: Mapping[str, Any], key: str) -> datetime:
    try:
        return datetime.fromisoformat(_text(data, key))
    except ValueError:
        raise _BadAnswerError(f"{key!r} is not an ISO 8601 time: {data.get(key)!r}") from None


def _optional_time(data: Mapping[str, Any], key: str) -> datetime | None:
    return None if data.get(key) is None else _time(data, key)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _BadAnswerError(f"{what} is not a JSON object")
    return value


def _user(data: Mapping[str, Any]) -> User:
    return User(
        username=_text(data, "username"),
        name=_text(data, "name"),
        dealer_code=_text(data, "dealer_code"),
        job_title=_text(data, "job_title"),
        enrolled=_flag(data, "enrolled"),
        can_approve=_flag(data, "can_approve"),
    )


def _request(value: Any) -> RequestInfo:
    data = _object(value, "request")
    return RequestInfo(
        number=_text(data, "number"),
        dealer_code=_text(data, "dealer_code"),
        dealer_name=_text(data, "dealer_name"),
        technician_username=_text(data, "technician_username"),
        technician_name=_text(data, "technician_name"),
        vin=_text(data, "vin"),
        repair_order=_text(data, "repair_order"),
        customer_last_name=_text(data, "customer_last_name"),
        status=_text(data, "status"),
        created_at=_time(data, "created_at"),
        expires_at=_time(data, "expires_at"),
        approved_by=_optional_text(data, "approved_by"),
        approved_at=_optional_time(data, "approved_at"),
        valid_until=_optional_time(data, "valid_until"),
        refused_by=_optional_text(data, "refused_by"),
        refused_at=_optional_time(data, "refused_at"),
        refusal_reason=_optional_text(data, "refusal_reason"),
    )


def _requests(value: Any, what: str) -> tuple[RequestInfo, ...]:
    if not isinstance(value, list):
        raise _BadAnswerError(f"{what} is not a list")
    return tuple(_request(item) for item in value)


def _problem(value: Any) -> AuditProblem:
    data = _object(value, "problem")
    seq = data.get("seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
        raise _BadAnswerError(f"'seq' is not a number: {seq!r}")
    return AuditProblem(seq=seq, problem=_text(data, "problem"))


def _error_of(response: httpx.Response) -> PortalClientError:
    """The contract's ``{"error": {"status", "field", "reason"}}``, or the best we can say."""
    try:
        error = response.json()["error"]
        reason = error["reason"]
        field = error.get("field")
        if isinstance(reason, str) and (field is None or isinstance(field, str)):
            return PortalClientError(response.status_code, field, reason)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    text = " ".join(response.text.split())[:_MAX_REASON_CHARS]
    reason = text or response.reason_phrase or "no explanation"
    return PortalClientError(response.status_code, None, f"{response.reason_phrase}: {reason}")


# -- the client -------------------------------------------------------------------------------


class PortalClient:
    """The portal's HTTP API at ``base_url`` (``http://127.0.0.1:8077``; ``/api/v1`` is added
    unless already there).

    ``transport`` replaces the network (an ``httpx.MockTransport``, or a transport that hands
    requests to an ASGI app in tests). After :meth:`login` every call carries the session's
    bearer token. Not thread-safe: one client per thread.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        if not root.endswith(API_PREFIX):
            root += API_PREFIX
        self.base_url = root
        """The API root every path is relative to."""
        self._http = httpx.Client(base_url=root, timeout=timeout_s, transport=transport)
        self._session: Session | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def session(self) -> Session | None:
        """The current login, if any."""
        return self._session

    # -- plumbing -----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        none_on_404: bool = False,
    ) -> httpx.Response | None:
        headers = {"Accept": "application/json"}
        if self._session is not None:
            headers["Authorization"] = f"Bearer {self._session.token}"
        try:
            response = self._http.request(method, path, json=body, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise PortalUnreachableError(
                f"the portal at {self.base_url} did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise PortalUnreachableError(
                f"cannot reach the portal at {self.base_url}: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code == httpx.codes.NOT_FOUND and none_on_404:
            return None
        if not response.is_success:
            raise _error_of(response)
        return response

    def _json(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        response = self._call(method, path, body=body, params=params)
        assert response is not None
        return _decoded(response)

    def _get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        response = self._call("GET", path, params=params)
        assert response is not None
        return response.text

    # -- endpoints ----------------------------------------------------------------------------

    def health(self) -> bool:
        """Whether the server answers ``GET /health`` with ``{"status": "ok"}``."""
        return _decode(self._json("GET", "/health"), lambda data: data.get("status") == "ok")

    def login(self, username: str, password: str) -> Session:
        """Log in; later calls act as this user. Wrong credentials: status 401."""
        self._session = None
        answer = self._json("POST", "/login", body={"username": username, "password": password})
        session = _decode(
            answer,
            lambda data: Session(
                token=_text(data, "token"),
                expires_at=_time(data, "expires_at"),
                user=_user(_object(data.get("user"), "user")),
            ),
        )
        self._session = session
        return session

    def logout(self) -> None:
        """Forget the token (the server lets it expire)."""
        self._session = None

    def me(self) -> User:
        return _decode(self._json("GET", "/me"), _user)

    def create_request(
        self,
        vin: str,
        repair_order: str,
        customer_last_name: str,
        confirmations: IdentificationConfirmations,
    ) -> RequestInfo:
        """Send a reset request to the dealer's managers (bulletin Sections 2 and 3)."""
        body = {
            "vin": vin,
            "repair_order": repair_order,
            "customer_last_name": customer_last_name,
            "confirmations": asdict(confirmations),
        }
        return _decode(self._json("POST", "/requests", body=body), _request)

    def get_request(self, number: str) -> RequestInfo:
        return _decode(self._json("GET", f"/requests/{_segment(number)}"), _request)

    def find_approval(self, vin: str) -> RequestInfo | None:
        """The request whose approval the user's dealer can use now for ``vin``, or ``None``."""
        response = self._call("GET", "/approvals", params={"vin": vin}, none_on_404=True)
        return None if response is None else _decode(_decoded(response), _request)

    def inbox(self) -> Inbox:
        def inbox(data: Mapping[str, Any]) -> Inbox:
            return Inbox(
                awaiting_approval=_requests(data.get("awaiting_approval"), "awaiting_approval"),
                my_requests=_requests(data.get("my_requests"), "my_requests"),
            )

        return _decode(self._json("GET", "/inbox"), inbox)

    def approve(self, number: str, confirmations: ApprovalConfirmations) -> RequestInfo:
        """Approve a request (bulletin Section 4); the logged-in user must be a manager."""
        body = {"confirmations": asdict(confirmations)}
        path = f"/requests/{_segment(number)}/approve"
        return _decode(self._json("POST", path, body=body), _request)

    def refuse(self, number: str, reason: str) -> RequestInfo:
        path = f"/requests/{_segment(number)}/refuse"
        return _decode(self._json("POST", path, body={"reason": reason}), _request)

    def issue_pass_code(
        self, number: str, password: str, tool_version: str, seed: str | bytes
    ) -> PassCodeInfo:
        """The Pass-Code for ``seed`` (16 bytes, or the Seed Number as typed) under the approval
        of request ``number``; the password is entered again (bulletin Section 5)."""
        seed_text = format_code(seed) if isinstance(seed, bytes | bytearray) else seed
        body = {"password": password, "tool_version": tool_version, "seed": seed_text}

        def issued(data: Mapping[str, Any]) -> PassCodeInfo:
            return PassCodeInfo(
                pass_code=_text(data, "pass_code"),
                request_number=_text(data, "request_number"),
                vin=_text(data, "vin"),
                seed_sha256=_text(data, "seed_sha256"),
                issued_at=_time(data, "issued_at"),
                approval_valid_until=_time(data, "approval_valid_until"),
            )

        path = f"/requests/{_segment(number)}/pass-codes"
        return _decode(self._json("POST", path, body=body), issued)

    def audit_verify(self) -> AuditVerification:
        """Check the audit log's hash chain on the server."""

        def verification(data: Mapping[str, Any]) -> AuditVerification:
            problems = data.get("problems")
            if not isinstance(problems, list):
                raise _BadAnswerError("'problems' is not a list")
            return AuditVerification(
                ok=_flag(data, "ok"), problems=tuple(_problem(item) for item in problems)
            )

        return _decode(self._json("GET", "/audit/verify"), verification)

    def nicb_report(self, since: datetime, until: datetime) -> str:
        """The NICB transaction-log export (CSV text) for ``[since, until)``."""
        params = {"since": since.isoformat(), "until": until.isoformat()}
        return self._get_text("/reports/nicb", params)

    def monthly_report(self, dealer_code: str, month: str, fmt: str = "text") -> str:
        """The Monthly Vehicle Security Transaction report, ``month`` as ``YYYY-MM``;
        ``fmt`` is ``text``, ``csv`` or ``html``."""
        path = f"/reports/monthly/{_segment(dealer_code)}/{_segment(month)}"
        return self._get_text(path, {"format": fmt})


def _segment(value: str) -> str:
    """One path segment, escaped (a request number typed with a ``/`` cannot change the path)."""
    return quote(str(value).strip(), safe="")


def _decoded(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PortalClientError(
            response.status_code, None, "the portal's answer is not JSON"
        ) from None


def _decode(value: Any, build: Callable[[Mapping[str, Any]], _T]) -> _T:
    """``build(value)``; an answer of the wrong shape becomes a :class:`PortalClientError`."""
    try:
        return build(_object(value, "answer"))
    except _BadAnswerError as exc:
        raise PortalClientError(200, None, f"unexpected answer from the portal: {exc}") from None
