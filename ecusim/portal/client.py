"""A small typed client of the portal's HTTP API v1 (``/api/v1``), over httpx.

It is what a scan tool uses to obtain a Pass-Code: log in, find or create the reset request, let
a manager approve it, and issue the Pass-Code for the Seed Number the car gave::

    with PortalClient("http://127.0.0.1:8077") as portal:
        portal.login("carol", password)
        approval = portal.find_approval(vin) or portal.create_request(
            vin, "RO-4711", "Smith", IdentificationConfirmations.all_confirmed()
        )
        ...  # a manager approves (portal.approve) in their own session
        portal.step_up(password)  # the password again, once (bulletin Section 5)
        issued = portal.issue_pass_code(approval.number, None, "9.10.037", seed)
        issued.pass_code  # display form, '68048306-E57DF5FB-1D818A1B-527791CD'

Results are the API's own frozen pydantic models (:mod:`ecusim.portal.views`, decoded strictly:
an answer of another shape is an error); every error is a :class:`PortalClientError` carrying the
server's ``status``, ``field`` and ``reason`` (the contract's error body; a 429 also carries
``retry_after_s``, from ``Retry-After``), and a server that cannot be reached raises
:class:`PortalUnreachableError` (a subclass, ``status`` 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from ecusim.errors import EcusimError
from ecusim.portal.api_models import API_PREFIX, HealthOut, LoginOut, StepUpOut
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.views import (
    AuditProblemView,
    AuditVerification,
    Inbox,
    IssuedPassCode,
    RequestView,
    StaffView,
)
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

DEFAULT_TIMEOUT_S: Final = 10.0
_MAX_REASON_CHARS: Final = 200
_M = TypeVar("_M", bound=pydantic.BaseModel)


class PortalClientError(EcusimError):
    """The portal refused a call (``status`` is the HTTP status) or could not be reached."""

    def __init__(
        self, status: int, field: str | None, reason: str, *, retry_after_s: int | None = None
    ) -> None:
        self.status = status
        """HTTP status of the answer (422, 401, 403, 404, 409, ...); 0 without an answer."""
        self.field = field
        """The field the error is about (``"seed"``, ``"password"``), if the server named one."""
        self.reason = reason
        """A sentence for the user."""
        self.retry_after_s = retry_after_s
        """From a 429's ``Retry-After``: seconds to wait before trying again."""
        where = f"{field}: " if field else ""
        super().__init__(f"{where}{reason} (HTTP {status})" if status else f"{where}{reason}")


class PortalUnreachableError(PortalClientError):
    """No HTTP answer: connection refused, DNS failure, time-out, broken connection."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, None, reason)


# The client's names for the API's own models (a request, a Pass-Code, a user, a login ...).
RequestInfo = RequestView
PassCodeInfo = IssuedPassCode
User = StaffView
Session = LoginOut
AuditProblem = AuditProblemView


# -- decoding ---------------------------------------------------------------------------------


def _decode(response: httpx.Response, model: type[_M]) -> _M:
    """The answer's JSON as ``model``, checked strictly; else a :class:`PortalClientError`."""
    try:
        return model.model_validate_json(response.content, strict=True)
    except pydantic.ValidationError as exc:
        problems = exc.errors(include_url=False)
        if any(problem["type"] == "json_invalid" for problem in problems):
            raise PortalClientError(
                response.status_code, None, "the portal's answer is not JSON"
            ) from None
        first = problems[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        raise PortalClientError(
            200, None, f"unexpected answer from the portal: {where}: {first['msg']}"
        ) from None


def _retry_after(response: httpx.Response) -> int | None:
    """``Retry-After`` in seconds (RFC 9110 §10.2.3; the portal sends seconds only)."""
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _error_of(response: httpx.Response) -> PortalClientError:
    """The contract's ``{"error": {"status", "field", "reason"}}``, or the best we can say."""
    try:
        error = response.json()["error"]
        reason = error["reason"]
        field = error.get("field")
        if isinstance(reason, str) and (field is None or isinstance(field, str)):
            return PortalClientError(
                response.status_code, field, reason, retry_after_s=_retry_after(response)
            )
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
        self.portal_url = root.removesuffix(API_PREFIX)
        """The portal's own address, where its pages are (``/inbox``, ``/requests/<n>``)."""
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

    def _ask(
        self,
        model: type[_M],
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> _M:
        response = self._call(method, path, body=body, params=params)
        assert response is not None
        return _decode(response, model)

    def _get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        response = self._call("GET", path, params=params)
        assert response is not None
        return response.text

    # -- endpoints ----------------------------------------------------------------------------

    def health(self) -> bool:
        """Whether the server answers ``GET /health`` with ``{"status": "ok"}``."""
        return self._ask(HealthOut, "GET", "/health").status == "ok"

    def login(self, username: str, password: str) -> Session:
        """Log in; later calls act as this user. Wrong credentials: status 401."""
        self._session = None
        body = {"username": username, "password": password}
        self._session = self._ask(LoginOut, "POST", "/login", body=body)
        return self._session

    def logout(self) -> None:
        """End the session on the server (``POST /logout``: the token stops working in every
        worker) and forget it. Without a session: nothing to do."""
        if self._session is None:
            return
        try:
            self._call("POST", "/logout")
        finally:
            self._session = None

    def step_up(self, password: str) -> datetime:
        """Re-enter the password (``POST /step-up``): until the returned time the session
        obtains Pass-Codes without it (:meth:`issue_pass_code` with ``password=None``).
        Wrong password: 401; too many failures: 429."""
        return self._ask(StepUpOut, "POST", "/step-up", body={"password": password}).step_up_until

    def me(self) -> User:
        return self._ask(StaffView, "GET", "/me")

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
        return self._ask(RequestView, "POST", "/requests", body=body)

    def get_request(self, number: str) -> RequestInfo:
        return self._ask(RequestView, "GET", f"/requests/{_segment(number)}")

    def find_approval(self, vin: str) -> RequestInfo | None:
        """The request whose approval the user's dealer can use now for ``vin``, or ``None``."""
        response = self._call("GET", "/approvals", params={"vin": vin}, none_on_404=True)
        return None if response is None else _decode(response, RequestView)

    def inbox(self) -> Inbox:
        return self._ask(Inbox, "GET", "/inbox")

    def approve(self, number: str, confirmations: ApprovalConfirmations) -> RequestInfo:
        """Approve a request (bulletin Section 4); the logged-in user must be a manager."""
        body = {"confirmations": asdict(confirmations)}
        return self._ask(RequestView, "POST", f"/requests/{_segment(number)}/approve", body=body)

    def refuse(self, number: str, reason: str) -> RequestInfo:
        path = f"/requests/{_segment(number)}/refuse"
        return self._ask(RequestView, "POST", path, body={"reason": reason})

    def close_approval(self, number: str, note: str | None = None) -> RequestInfo:
        """Close request ``number``'s approval: the vehicle repair is completed, no Pass-Code
        after it (any enrolled staff member of the dealer; ``note`` goes to the audit log)."""
        body = {} if note is None else {"note": note}
        return self._ask(RequestView, "POST", f"/requests/{_segment(number)}/close", body=body)

    def issue_pass_code(
        self, number: str, password: str | None, tool_version: str, seed: str | bytes
    ) -> PassCodeInfo:
        """The Pass-Code for ``seed`` (16 bytes, or the Seed Number as typed) under the approval
        of request ``number`` (bulletin Section 5). ``password``: entered again with this call
        (it also opens the step-up window); ``None``: within the window of :meth:`step_up`
        (else 401 on ``password``), with no password hash on the server."""
        seed_text = format_code(seed) if isinstance(seed, bytes | bytearray) else seed
        body: dict[str, str] = {"tool_version": tool_version, "seed": seed_text}
        if password is not None:
            body["password"] = password
        path = f"/requests/{_segment(number)}/pass-codes"
        return self._ask(IssuedPassCode, "POST", path, body=body)

    def audit_verify(self) -> AuditVerification:
        """Check the audit log's hash chain on the server."""
        return self._ask(AuditVerification, "GET", "/audit/verify")

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
