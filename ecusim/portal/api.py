"""The portal's HTTP API v1 (FastAPI): ``create_app(portal)`` and ``serve(portal)``.

Contract: ``docs/portal-api.md``. Base path ``/api/v1``, JSON bodies, ISO 8601 UTC times.
``POST /api/v1/login`` gives a bearer token (32 random bytes, URL-safe) held in this process's
memory for 8 h of the portal's clock [LAB]; every other endpoint but ``/health`` needs it. The
rules, the role checks included, are the service's: each endpoint calls one
:class:`~ecusim.portal.service.Portal` method as the logged-in user, and every error is a
:class:`~ecusim.portal.errors.PortalError` answered with its ``http_status`` and the body
``{"error": {"status", "field", "reason"}}`` (request-body validation 422, malformed JSON 400).

Endpoints are plain functions: FastAPI runs them in its thread pool, so a slow database call
never blocks the event loop, and concurrent requests reach the service concurrently (the service
serialises its writers).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecusim.portal import reports
from ecusim.portal.api_models import (
    API_PREFIX,
    ApproveIn,
    AuditOut,
    ErrorOut,
    HealthOut,
    LoginIn,
    LoginOut,
    PassCodeIn,
    RefuseIn,
    RequestIn,
)
from ecusim.portal.errors import (
    AuthenticationError,
    NotFoundError,
    PortalError,
    ValidationError,
)
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import MAX_AUDIT_LIMIT, Portal
from ecusim.portal.views import (
    AuditVerification,
    Inbox,
    IssuedPassCode,
    RequestView,
    StaffView,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_PORT",
    "MAX_AUDIT_LIMIT",
    "TOKEN_LIFETIME",
    "BackgroundServer",
    "ServerStartError",
    "SessionStore",
    "create_app",
    "make_server",
    "serve",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8077
TOKEN_LIFETIME = timedelta(hours=8)
"""A login token works this long on the portal's clock [LAB]."""
TOKEN_BYTES = 32

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "Malformed JSON"),
        (401, "Missing, unknown or expired token, or wrong password"),
        (403, "The rules do not let this user do this"),
        (404, "No such request, approval or dealer"),
        (409, "The request is not in a state that allows this (e.g. expired: a new one is needed)"),
        (422, "A field is malformed or missing"),
    )
}


# -- sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Login:
    user: StaffView
    expires_at: datetime


class SessionStore:
    """Bearer tokens of logged-in users, in memory, expiring on the portal's clock.

    A token is valid up to and including ``expires_at`` (the portal's 72 h rules count the same
    way). Expired tokens are dropped when met and whenever a new one is issued.
    """

    def __init__(self, portal: Portal, lifetime: timedelta = TOKEN_LIFETIME) -> None:
        self._portal = portal
        self._lifetime = lifetime
        self._logins: dict[str, _Login] = {}
        self._lock = threading.Lock()

    def open(self, user: StaffView) -> tuple[str, datetime]:
        """A new token for ``user`` and the time it expires."""
        now = self._portal.now()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = now + self._lifetime
        with self._lock:
            for old in [key for key, login in self._logins.items() if now > login.expires_at]:
                del self._logins[old]
            self._logins[token] = _Login(user, expires_at)
        return token, expires_at

    def user(self, token: str | None) -> StaffView:
        """The user the token was issued to; :class:`AuthenticationError` if it is missing,
        unknown or expired."""
        if not token:
            raise AuthenticationError(
                "log in first: send the header Authorization: Bearer <token>",
                field="authorization",
            )
        now = self._portal.now()
        with self._lock:
            login = self._logins.get(token)
            if login is not None and now > login.expires_at:
                del self._logins[token]
                login = None
        if login is None:
            raise AuthenticationError(
                "the token is unknown or has expired: log in again", field="authorization"
            )
        return login.user

    def __len__(self) -> int:
        with self._lock:
            return len(self._logins)


# -- errors --------------------------------------------------------------------------------------


def _error(
    status_code: int, field: str | None, reason: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    if status_code == status.HTTP_401_UNAUTHORIZED:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(
        {"error": {"status": status_code, "field": field, "reason": reason}},
        status_code=status_code,
        headers=headers,
    )


def _on_portal_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PortalError)
    return _error(exc.http_status, exc.field, exc.reason)


_UNPROCESSABLE = 422  # HTTP_422_UNPROCESSABLE_CONTENT (named _ENTITY in older Starlette)
_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:
        return _error(_UNPROCESSABLE, None, "invalid request")
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        where = f" at position {loc[1]}" if len(loc) > 1 else ""
        return _error(status.HTTP_400_BAD_REQUEST, None, f"malformed JSON: {detail}{where}")
    path = loc[1:] if loc and loc[0] in _LOCATIONS else loc
    field = ".".join(str(part) for part in path) or None
    reason = str(first.get("msg", "invalid value"))
    if field is None and loc[:1] == ("body",):
        reason = f"the body must be a JSON object: {reason}"
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more problem(s))"
    return _error(_UNPROCESSABLE, field, reason)


def _on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _error(exc.status_code, None, str(exc.detail), dict(exc.headers or {}))


def _on_unexpected_error(_request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error in the portal API", exc_info=exc)
    return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, None, "internal error")


# -- query parameters ----------------------------------------------------------------------------


def _utc_query_time(text: str, field: str) -> datetime:
    """``2014-07-01`` or ``2014-07-01T20:27:00+00:00`` (no offset: UTC)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            field, f"expected an ISO 8601 date or time (2014-07-01T00:00:00+00:00), got {text!r}"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _year_month(text: str) -> tuple[int, int]:
    parts = text.split("-")
    if len(parts) != 2 or not all(part.isascii() and part.isdigit() for part in parts):
        raise ValidationError("month", f"expected YYYY-MM, got {text!r}")
    return int(parts[0]), int(parts[1])


_REPORT_MEDIA_TYPES = {"csv": "text/csv", "text": "text/plain", "html": "text/html"}


# -- the application -----------------------------------------------------------------------------

_DESCRIPTION = """\
The dealer side of the Immobilizer and Smart Key Reset (bulletin Sections 1-5): reset requests,
manager approvals and Pass-Code issue, with the audit log and the reports.

Log in with `POST /api/v1/login`, then send `Authorization: Bearer <token>` (valid 8 h).
Every error answers `{"error": {"status", "field", "reason"}}`.
"""


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def _sessions(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


PortalDep = Annotated[Portal, Depends(_portal)]
SessionsDep = Annotated[SessionStore, Depends(_sessions)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The token from `POST /api/v1/login`.",
)


def _current_user(
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> StaffView:
    return sessions.user(credentials.credentials if credentials else None)


User = Annotated[StaffView, Depends(_current_user)]
"""The logged-in user (401 without a valid token)."""

api = APIRouter(prefix=API_PREFIX, responses=_ERROR_RESPONSES)


@api.get("/health", summary="Liveness check (no login)", tags=["server"])
def health() -> HealthOut:
    return HealthOut(status="ok")


@api.post("/login", summary="Log in: get a bearer token", tags=["session"])
def login(portal: PortalDep, sessions: SessionsDep, body: LoginIn) -> LoginOut:
    """Check the password; the token works for 8 h of the portal's clock."""
    user = portal.authenticate(body.username, body.password)
    token, expires_at = sessions.open(user)
    return LoginOut(token=token, expires_at=expires_at, user=user)


@api.get("/me", summary="The logged-in user", tags=["session"])
def me(user: User) -> StaffView:
    return user


@api.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    summary="Send a reset request to the dealer's managers",
    tags=["requests"],
)
def create_request(portal: PortalDep, user: User, body: RequestIn) -> RequestView:
    """Bulletin Sections 2-3: VIN, repair order, customer last name and the 4 Positive
    Identification Policy confirmations, all required. Refused (409, field `vin`) while the
    dealer holds a valid approval for the VIN: reuse that one."""
    return portal.create_request(
        user.username,
        body.vin,
        body.repair_order,
        body.customer_last_name,
        IdentificationConfirmations(**body.confirmations.model_dump()),
    )


@api.get("/requests/{number}", summary="One request of the user's dealer", tags=["requests"])
def get_request(portal: PortalDep, user: User, number: str) -> RequestView:
    return portal.get_request(user.username, number)


@api.get(
    "/approvals",
    summary="The valid approval for a VIN at the user's dealer",
    tags=["requests"],
)
def find_approval(
    portal: PortalDep,
    user: User,
    vin: Annotated[str, Query(description="17-character VIN", examples=["JTHBL5EF0C5000001"])],
) -> RequestView:
    """404 when the dealer holds no approval usable now for that VIN."""
    view = portal.find_approval(user.username, vin)
    if view is None:
        raise NotFoundError(f"no valid approval for {vin.strip().upper()}", field="vin")
    return view


@api.get("/inbox", summary="Requests awaiting approval and the user's own", tags=["requests"])
def inbox(portal: PortalDep, user: User) -> Inbox:
    return portal.inbox(user.username)


@api.post("/requests/{number}/approve", summary="Approve a request", tags=["requests"])
def approve(portal: PortalDep, user: User, number: str, body: ApproveIn) -> RequestView:
    """Bulletin Section 4: an enrolled approving manager of the same dealer, not the
    requester, with the 3 Request Approval Policy confirmations. Valid 72 h [LAB]."""
    confirmations = ApprovalConfirmations(**body.confirmations.model_dump())
    return portal.approve(user.username, number, confirmations)


@api.post("/requests/{number}/refuse", summary="Refuse a request", tags=["requests"])
def refuse(portal: PortalDep, user: User, number: str, body: RefuseIn) -> RequestView:
    return portal.refuse(user.username, number, body.reason)


@api.post(
    "/requests/{number}/pass-codes",
    status_code=status.HTTP_201_CREATED,
    summary="Get the Pass-Code for a Seed Number",
    tags=["requests"],
)
def issue_pass_code(portal: PortalDep, user: User, number: str, body: PassCodeIn) -> IssuedPassCode:
    """Bulletin Section 5: the password again, scan-tool software 9.10.037 or later and the
    Seed Number. Only the seed's SHA-256 is stored; the Pass-Code is never stored."""
    return portal.issue_pass_code(
        user.username, number, body.password, body.tool_version, body.seed
    )


@api.get("/audit", summary="Audit records, oldest first", tags=["audit"])
def audit_records(
    portal: PortalDep,
    user: User,
    since_seq: Annotated[
        int, Query(ge=0, description="Only records with a larger `seq` (a cursor).")
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_AUDIT_LIMIT, description="At most this many records.")
    ] = 100,
) -> AuditOut:
    """Managers only, and only their own dealer's records."""
    return AuditOut(records=portal.audit_records(user.username, since_seq, limit))


@api.get("/audit/verify", summary="Check the audit hash chain", tags=["audit"])
def audit_verify(portal: PortalDep, user: User) -> AuditVerification:
    """Managers only."""
    return portal.verify_audit(user.username)


@api.get(
    "/reports/nicb",
    summary="NICB transaction-log export (CSV)",
    tags=["reports"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, CRLF line ends"}},
)
def nicb_report(
    portal: PortalDep,
    user: User,
    since: Annotated[str, Query(description="Start, inclusive (ISO 8601; no offset: UTC)")],
    until: Annotated[str, Query(description="End, exclusive (ISO 8601; no offset: UTC)")],
) -> Response:
    """Managers only, and only their own dealer's transactions."""
    start, end = _utc_query_time(since, "since"), _utc_query_time(until, "until")
    text = reports.nicb_csv(portal.transactions(user.username, start, end))
    return Response(text, media_type="text/csv")


@api.get(
    "/reports/monthly/{dealer_code}/{month}",
    summary="Monthly Vehicle Security Transaction Report of the user's dealer",
    tags=["reports"],
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in _REPORT_MEDIA_TYPES.values()},
            "description": "The report in the requested format",
        }
    },
)
def monthly_report(
    portal: PortalDep,
    user: User,
    dealer_code: str,
    month: Annotated[str, Path(description="`YYYY-MM` (UTC)", examples=["2014-07"])],
    fmt: Annotated[
        Literal["csv", "text", "html"],
        Query(alias="format", description="`csv`, `text` or `html`"),
    ] = "csv",
) -> Response:
    """Months are UTC calendar months; 403 for another dealer's report."""
    year, month_number = _year_month(month)
    report = portal.monthly_report(user.username, dealer_code, year, month_number)
    render = {
        "csv": reports.monthly_report_csv,
        "text": reports.monthly_report_text,
        "html": reports.monthly_report_html,
    }[fmt]
    return Response(render(report), media_type=_REPORT_MEDIA_TYPES[fmt])


def create_app(portal: Portal) -> FastAPI:
    """The API v1 over ``portal`` (its clock also times the login tokens)."""
    app = FastAPI(
        title="ecusim pass-code portal",
        version="1",
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.portal = portal
    app.state.sessions = SessionStore(portal)
    app.add_exception_handler(PortalError, _on_portal_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
    app.include_router(api)
    return app


# -- serving -------------------------------------------------------------------------------------


def make_server(
    portal: Portal, host: str = "127.0.0.1", port: int = DEFAULT_PORT, **options: Any
) -> uvicorn.Server:
    """A uvicorn server for the API (not started). ``options`` go to :class:`uvicorn.Config`
    (``ssl_keyfile``, ``log_level`` …). Plain HTTP unless given TLS files: put it on a trusted
    network or behind a TLS proxy."""
    config = uvicorn.Config(create_app(portal), host=host, port=port, **options)
    return uvicorn.Server(config)


LISTEN_BACKLOG = 2048
"""uvicorn's default backlog."""


def listen(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> socket.socket:
    """A TCP socket listening on ``host:port`` (``port=0``: a free one), for :func:`serve`.

    Binding here, before uvicorn starts, makes a taken port or an unknown host an ``OSError``
    the caller can report, and tells the real address before anything is announced.
    """
    # As uvicorn does: IPv6 only for an IPv6 address, "" for every IPv4 address.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name == "posix":  # rebind at once after a restart (uvicorn does the same)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def url_host(host: str) -> str:
    """``host`` as written in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def serve(
    portal: Portal,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    sock: socket.socket | None = None,
    **options: Any,
) -> None:
    """Run the API with uvicorn until interrupted; loopback only unless ``host`` says otherwise.

    ``sock``: a socket from :func:`listen` to serve on (the caller closes it); else one is bound
    to ``host:port`` here (``OSError`` if that fails)."""
    server = make_server(portal, host, port, **options)
    if sock is not None:
        server.run(sockets=[sock])
        return
    with listen(host, port) as own:
        server.run(sockets=[own])


class ServerStartError(RuntimeError):
    """The API did not come up (the port is taken, or it did not listen in time)."""


class BackgroundServer:
    """The API served by uvicorn on a thread of this process (demos, tests).

    :meth:`start` returns ``http://host:port`` once it listens (``port=0``: a free port);
    :meth:`stop` ends it. Both are bounded in time. As a context manager it yields the URL.
    """

    def __init__(
        self,
        portal: Portal,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout_s: float = 20.0,
        stop_timeout_s: float = 10.0,
        **options: Any,
    ) -> None:
        options.setdefault("log_level", "warning")
        self._server = make_server(portal, host, port, **options)
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="portal-http", daemon=True)
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s

    def _run(self) -> None:
        assert self._socket is not None
        with self._socket:
            self._server.run(sockets=[self._socket])

    def start(self) -> str:
        host, port = self._server.config.host, self._server.config.port
        try:
            self._socket = listen(host, port)
        except OSError as exc:
            raise ServerStartError(
                f"the portal's API cannot listen on {url_host(host)}:{port}: {exc}"
            ) from exc
        bound_host, bound_port = self._socket.getsockname()[:2]
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServerStartError("the portal's API stopped while starting (see its log)")
            if time.monotonic() > deadline:
                self._server.should_exit = True
                raise ServerStartError(
                    f"the portal's API did not start within {self.start_timeout_s:g} s"
                )
            time.sleep(0.01)
        return f"http://{url_host(bound_host)}:{bound_port}"

    @property
    def running(self) -> bool:
        """Whether the server's thread still runs."""
        return self._thread.is_alive()

    def stop(self) -> bool:
        """Ask the server to end and wait for it; whether it ended in time."""
        self._server.should_exit = True
        if self.running:
            self._thread.join(timeout=self.stop_timeout_s)
        return not self.running

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
