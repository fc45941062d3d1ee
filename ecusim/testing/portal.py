"""A pass-code portal for tests: an SQLite file, the demo dealer, the API served on demand.

The pytest plugin's ``portal`` fixture (docs/pytest-plugin.md); usable without pytest.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ecusim.portal.db import make_engine, make_session_factory, upgrade
from ecusim.portal.demo_data import DemoDealer, add_demo_dealer
from ecusim.portal.rules import (
    MIN_TOOL_VERSION_TEXT,
    ApprovalConfirmations,
    IdentificationConfirmations,
)
from ecusim.portal.service import Portal, RequestView
from ecusim.portal.settings import ENV_PREFIX, PortalSettings
from ecusim.secret_file import LAB_SECRETS, Secrets
from protocol.passcode import format_code, parse_code

if TYPE_CHECKING:
    from ecusim.portal.api import BackgroundServer

__all__ = ["FIXTURE_SCRYPT_N", "PORTAL_PASSWORD", "TOOL_VERSION", "VirtualPortal"]

PORTAL_PASSWORD: Final = "ecusim-pytest-password"
"""Every demo user's password in the portal fixture."""
TOOL_VERSION: Final = MIN_TOOL_VERSION_TEXT
"""The scan-tool version the fixture reports: the oldest the portal accepts, 9.10.037."""
FIXTURE_SCRYPT_N: Final = 2**10
"""The scrypt cost of the fixture's hashes unless ``ECUSIM_PORTAL_SCRYPT_N`` or ``settings``
says otherwise: its users' password is public (:data:`PORTAL_PASSWORD`), so the shipped 2^17
would only slow every test down (three hashes of about 0.3 s each)."""
SERVER_START_TIMEOUT_S: Final = 20.0
SERVER_STOP_TIMEOUT_S: Final = 10.0


class VirtualPortal:
    """A pass-code portal on an SQLite file with the demo dealer (two managers, a technician,
    all with :data:`PORTAL_PASSWORD`); the HTTP API is served at :attr:`url` from first use.
    ``secrets``: the cars' (docs/secrets.md; default the public lab secret). ``settings``: the
    portal's limits (default: ``ECUSIM_PORTAL_*``, with the scrypt cost :data:`FIXTURE_SCRYPT_N`
    unless ``ECUSIM_PORTAL_SCRYPT_N`` is set)."""

    def __init__(
        self,
        database: Path,
        *,
        password: str = PORTAL_PASSWORD,
        secrets: Secrets = LAB_SECRETS,
        settings: PortalSettings | None = None,
    ) -> None:
        if settings is None:
            settings = PortalSettings.from_env()
            if f"{ENV_PREFIX}SCRYPT_N" not in os.environ:
                settings = settings.model_copy(update={"scrypt_n": FIXTURE_SCRYPT_N})
        self._engine = make_engine(f"sqlite:///{database}")
        try:
            upgrade(self._engine)
            self.service = Portal(
                make_session_factory(self._engine),
                master_secret=secrets.master_secret,
                settings=settings,
            )
            """The portal's in-process API (:class:`~ecusim.portal.service.Portal`)."""
            self.password = password
            self.dealer: DemoDealer = add_demo_dealer(self.service, password)
        except BaseException:
            self._engine.dispose()
            raise
        self._server: BackgroundServer | None = None
        self._url: str | None = None
        self._lock = threading.Lock()

    @property
    def technician(self) -> str:
        return self.dealer.technician.username

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the portal's API, started now if it is not running."""
        with self._lock:
            if self._url is None:
                self._url = self._start_server()
            return self._url

    def _start_server(self) -> str:
        from ecusim.portal.api import BackgroundServer  # noqa: PLC0415 - FastAPI only when served

        server = BackgroundServer(
            self.service,
            start_timeout_s=SERVER_START_TIMEOUT_S,
            stop_timeout_s=SERVER_STOP_TIMEOUT_S,
        )
        self._server = server
        return server.start()

    def approve(self, vin: str) -> RequestView:
        """The dealer's valid approval for ``vin``: the one there is, or a new request by the
        technician with the 4 confirmations, approved by the first manager (bulletin 2-4)."""
        existing = self.service.find_approval(self.technician, vin)
        if existing is not None:
            return existing
        request = self.service.create_request(
            self.technician,
            vin,
            "RO-PYTEST",
            "Customer",
            IdentificationConfirmations.all_confirmed(),
        )
        return self.service.approve(
            self.dealer.managers[0].username, request.number, ApprovalConfirmations.all_confirmed()
        )

    def pass_code(self, vin: str, seed: bytes | str) -> bytes:
        """The 16-byte Pass-Code for a Seed Number (bytes or display form), issued by the
        portal's rules to the technician under the VIN's approval (made if there is none)."""
        approval = self.approve(vin)
        text = seed if isinstance(seed, str) else format_code(bytes(seed))
        issued = self.service.issue_pass_code(
            self.technician, approval.number, self.password, TOOL_VERSION, text
        )
        return parse_code(issued.pass_code)

    def close(self) -> None:
        """Stop the API server (bounded) and close the database."""
        server, self._server = self._server, None
        try:
            if server is not None and not server.stop():
                raise RuntimeError(f"the portal's API still runs after {SERVER_STOP_TIMEOUT_S} s")
        finally:
            self._engine.dispose()
