"""``ecusim demo``: the whole reset bulletin in one process, narrated.

A car of the support chart (default LS460 2012, smart key) runs on a python-can ``virtual`` bus;
the pass-code portal runs on SQLite in the demo folder, served over HTTP on 127.0.0.1 with a
demo dealer (two managers and a technician); the reference scan tool (:mod:`ecusim.tool`) does
the procedure: identify the car, Seed Number, request, manager approval (the narration gives
the approval message's page, ``<portal>/inbox/<n>``), Pass-Code, reset, registration of new
keys. Then a new key starts the engine and an old one is refused. The car's own waits run
``time_scale`` times fast; every frame goes to a candump trace, summarised with the shipped DBC
and drawn as a timeline picture beside it; ``wire`` narrates the tool's UDS bytes too.
``keep_serving`` is called after the procedure with the portal still up (``ecusim demo
--serve``).
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import can

from ecusim.car.keys import Key
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import ModelYear, SystemType
from ecusim.catalog.profile import CarProfile
from ecusim.demo.trace_plot import write_plot
from ecusim.demo.trace_summary import summarize
from ecusim.demo.vehicle_presenter import VehiclePresenter
from ecusim.demo.wire_narration import WireNarration
from ecusim.errors import EcusimError
from ecusim.portal.api import BackgroundServer, ServerStartError
from ecusim.portal.client import PortalClient, RequestInfo
from ecusim.portal.demo_data import DemoDealer, add_demo_dealer
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Portal
from ecusim.secret_file import LAB_SECRETS, Secrets
from ecusim.tool import TOOL_VERSION
from ecusim.tool.console import Console
from ecusim.tool.errors import ToolError
from ecusim.tool.identify import CarIdentity, identify
from ecusim.tool.link import DiagnosticLink
from ecusim.tool.portal_steps import PortalSteps, RequestDetails
from ecusim.tool.registration import KeyRegistration
from ecusim.tool.reset import ResetUtility
from ecusim.tool.targets import targets_for

DEFAULT_MODEL: Final = "LS460"
DEFAULT_YEAR: Final = 2012
DEFAULT_TIME_SCALE: Final = 100.0
"""The smart key's 16-minute waiting period then takes under 10 s."""
TRACE_NAME: Final = "trace.log"
SUMMARY_NAME: Final = "trace-summary.txt"
PLOT_NAME: Final = "trace.png"
PORTAL_NAME: Final = "portal.db"
ARTEFACTS: Final = (TRACE_NAME, SUMMARY_NAME, PLOT_NAME, PORTAL_NAME)
PORTAL_TIMEOUT_S: Final = 30.0
APPROVAL_WAIT_S: Final = 30.0
CAR_SEED: Final = 2012
"""Seed of the car's key-blank generator: the same new keys on every run."""


class DemoError(EcusimError):
    """The demo could not run or its outcome was wrong."""


class DemoPortError(DemoError):
    """The portal cannot listen on the port asked for (taken, or not allowed)."""


@dataclass(frozen=True)
class DemoResult:
    folder: Path
    trace: Path
    summary: Path
    plot: Path
    """The trace's timeline picture (:mod:`ecusim.demo.trace_plot`)."""
    reset_done: bool
    """False when the car cannot be reset with the tool (SPOC, no immobilizer); when True the
    new keys started the engine and the old ones were refused (else :class:`DemoError`)."""


@dataclass(frozen=True)
class DemoPortal:
    """The demo's portal while it is served: its address and the demo dealer's logins."""

    url: str
    """``http://127.0.0.1:<port>``: the pages (``/login``, ``/inbox``, ``/docs``) and the API."""
    dealer: DemoDealer


KeepServing = Callable[[DemoResult, DemoPortal], None]
"""Called after the procedure while the portal still listens; it returns to end the demo."""


@contextlib.contextmanager
def _virtual_buses(count: int) -> Iterator[list[can.BusABC]]:
    channel = f"demo-{uuid.uuid4().hex[:8]}"  # candump interface names: <= 15 chars
    buses = [can.Bus(interface="virtual", channel=channel) for _ in range(count)]
    try:
        yield buses
    finally:
        for bus in buses:
            bus.shutdown()


def _prepare_folder(folder: Path, console: Console) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"cannot create the demo folder {folder}: {exc}") from exc
    old = [folder / name for name in ARTEFACTS if (folder / name).exists()]
    for path in old:
        path.unlink()
    if old:
        console.info(f"replaced the previous demo's {', '.join(p.name for p in old)}")


class _Manager:
    """The service manager who approves the technician's request from the portal inbox."""

    def __init__(self, url: str, dealer: DemoDealer, console: Console) -> None:
        self.url = url
        self.dealer = dealer
        self.console = console

    def approve(self, request: RequestInfo) -> None:
        user = self.dealer.managers[0]
        with PortalClient(self.url, timeout_s=PORTAL_TIMEOUT_S) as manager:
            manager.login(user.username, user.password)
            waiting = [r.number for r in manager.inbox().awaiting_approval]
            self.console.info(
                f"[manager {user.username}] inbox {self.url}/inbox: {', '.join(waiting) or 'empty'}"
            )
            self.console.info(
                f"[manager {user.username}] opens {self.url}/inbox/{request.number}, checks the "
                "request and the 3 approval boxes, approves"
            )
            manager.approve(request.number, ApprovalConfirmations.all_confirmed())


def _starts(car: Vehicle, key: Key, smart: bool) -> bool:
    """``key`` alone at the car: does the engine start? The engine is off again after."""
    car.withdraw_key()
    if smart:
        car.present_key(key, "cabin")
        car.set_brake(True)
        started = car.start_engine()
        car.set_brake(False)
    else:
        car.present_key(key)
        car.set_ignition("on")
        started = car.start_engine()
    car.set_ignition("off")
    car.withdraw_key()
    return started


def _ignition_on(car: Vehicle, console: Console) -> None:
    """The bulletin's condition for the reset: ignition ON, vehicle stopped."""
    if car.system.carried_keys:
        console.info("[technician] pushes the engine switch twice without the brake: ignition ON")
    else:
        blank = car.new_key("master")
        console.info(
            f"[technician] turns the ignition ON with a new, unregistered key blank ({blank})"
        )
        car.present_key(blank)
    car.set_ignition("on")


def run_demo(
    console: Console,
    folder: Path,
    *,
    model: str = DEFAULT_MODEL,
    year: int = DEFAULT_YEAR,
    time_scale: float = DEFAULT_TIME_SCALE,
    secrets: Secrets = LAB_SECRETS,
    port: int = 0,
    keep_serving: KeepServing | None = None,
    wire: bool = False,
    car_profile: CarProfile | None = None,
) -> DemoResult:
    """Run the demo (see the module docstring); artefacts go to ``folder``. ``secrets``: the
    car's and the portal's (docs/secrets.md; default the public lab secret). The portal
    listens on 127.0.0.1:``port`` (0: a free port; a port it cannot have:
    :class:`DemoPortError`). ``wire``: the narration shows the bytes of each exchange.
    ``car_profile``: the car a profile describes, in place of ``model``/``year``
    (docs/car-profiles.md); the tool asks its addresses."""
    _prepare_folder(folder, console)
    options: dict[str, Any] = {"time_scale": time_scale, "seed": CAR_SEED, "secrets": secrets}
    if car_profile is not None:
        car = Vehicle.from_profile(car_profile, **options)
    else:
        car = Vehicle.from_catalog(model, year, **options)
    narration = WireNarration(console) if wire else None
    demo = _Demo(
        console, folder, car, time_scale, port=port, keep_serving=keep_serving, wire=narration
    )
    demo.known = car_profile.model_year if car_profile is not None else None
    return demo.run()


class _Demo:
    def __init__(
        self,
        console: Console,
        folder: Path,
        car: Vehicle,
        time_scale: float,
        *,
        port: int,
        keep_serving: KeepServing | None,
        wire: WireNarration | None = None,
    ) -> None:
        self.console = console
        self.folder = folder
        self.car = car
        self.time_scale = time_scale
        self.port = port
        self.keep_serving = keep_serving
        self.smart = car.model_year.system_type is SystemType.SMART_KEY
        self.trace = folder / TRACE_NAME
        self.summary = folder / SUMMARY_NAME
        self.plot = folder / PLOT_NAME
        self.wire = wire
        self.password = secrets.token_urlsafe(12)
        self.known: ModelYear | None = None
        """A car profile's entry: the tool asks its addresses (``None``: the car tells)."""

    def run(self) -> DemoResult:
        console, car = self.console, self.car
        console.step(f"The car: {car.model_year.name}, VIN {car.vin}")
        console.info(f"key system: {car.model_year.system_type.label}")
        console.info(f"factory keys: {', '.join(str(k) for k in car.factory_keys) or 'none'}")
        console.info(
            f"the car's own waits run {self.time_scale:g} times fast; UDS timers are real time"
        )
        secrets = car.secrets
        console.info(
            f"car and portal share the secrets of {secrets.source}"
            if secrets.source is not None
            else "car and portal run on the public lab secret (anyone can compute its "
            "Pass-Codes): use --secret-file FILE"
        )
        console.step("The portal: a demo dealer, two managers and a technician")
        portal = Portal.open(
            f"sqlite:///{self.folder / PORTAL_NAME}", master_secret=secrets.master_secret
        )
        dealer = add_demo_dealer(portal, self.password)
        console.info(f"dealer {dealer.code} {dealer.name}")
        names = ", ".join(u.username for u in dealer.users)
        console.info(f"staff: {names} (password {self.password})")
        server = BackgroundServer(portal, port=self.port)
        try:
            url = server.start()
        except ServerStartError as exc:
            if isinstance(exc.__cause__, OSError):  # the socket could not be bound
                raise DemoPortError(str(exc)) from exc
            raise DemoError(str(exc)) from exc
        try:
            console.info(f"portal on {url}: pages {url}/login, API {url}/docs")
            result = self._procedure(url, dealer)
            if self.keep_serving is not None:
                self.keep_serving(result, DemoPortal(url, dealer))
        finally:
            server.stop()
        return result

    def _procedure(self, url: str, dealer: DemoDealer) -> DemoResult:
        console, car = self.console, self.car
        with contextlib.ExitStack() as stack:
            car_bus, tool_bus, trace_bus = stack.enter_context(_virtual_buses(3))
            writer = can.Logger(str(self.trace))
            recorder = can.Notifier(trace_bus, [writer], timeout=0.1)
            stack.callback(writer.stop)
            stack.callback(recorder.stop)
            stack.enter_context(car.running(car_bus))
            link = stack.enter_context(DiagnosticLink(tool_bus, on_wire=self.wire))
            if self.wire is not None:
                stack.callback(self.wire.flush)
            technician = stack.enter_context(PortalClient(url, timeout_s=PORTAL_TIMEOUT_S))
            self._before()
            identity = identify(link, console, model_year=self.known)
            try:
                identity.require_reset()
            except ToolError as exc:
                console.warn(f"the tool says: {exc}")
                console.step("Nothing to reset: the demo ends here")
                stack.close()
                return self._finish(reset_done=False)
            _ignition_on(car, console)
            technician.login(dealer.technician.username, self.password)
            console.info(f"[technician] logged in to the portal as {dealer.technician.username}")
            steps = PortalSteps(
                technician,
                self.password,
                TOOL_VERSION,
                details=RequestDetails(
                    "RO-DEMO-0001", "Customer", IdentificationConfirmations.all_confirmed()
                ),
                approval_wait_s=APPROVAL_WAIT_S,
                on_request_sent=_Manager(url, dealer, console).approve,
            )
            ResetUtility(link, console, identity, steps).run()
            new_keys = self._register(link, identity)
            self._after(new_keys)
        return self._finish(reset_done=True)

    def _before(self) -> None:
        old_key = self.car.factory_keys[0] if self.car.factory_keys else None
        if old_key is None:
            return
        self.console.step("Before: the customer's key starts the car")
        started = _starts(self.car, old_key, self.smart)
        self.console.info(f"{old_key}: engine {'starts' if started else 'refused'}")
        self.console.info("then every key is lost; a new set is needed")

    def _register(self, link: DiagnosticLink, identity: CarIdentity) -> list[Key]:
        presenter = VehiclePresenter(self.car, self.console)
        kinds = ["smart", "smart"] if self.smart else ["master", "master", "sub"]
        if not self.smart:
            self.car.withdraw_key()  # the blank that turned the ignition: new keys follow
        KeyRegistration(
            link, self.console, identity, presenter, kinds, diag_key=self.car.secrets.diag_key
        ).run()
        self.car.set_ignition("off")
        return presenter.keys

    def _after(self, new_keys: list[Key]) -> None:
        self.console.step("After: the new keys start the engine, the old ones are refused")
        wrong: list[str] = []
        for key in new_keys:
            started = _starts(self.car, key, self.smart)
            self.console.info(f"new {key}: engine {'starts' if started else 'REFUSED'}")
            if not started:
                wrong.append(f"new {key} was refused")
        for key in self.car.factory_keys:
            started = _starts(self.car, key, self.smart)
            self.console.info(f"old {key}: engine {'STARTS' if started else 'refused'}")
            if started:
                wrong.append(f"old {key} started the engine")
        if wrong:
            raise DemoError("unexpected result: " + "; ".join(wrong))

    def _finish(self, *, reset_done: bool) -> DemoResult:
        """Summarise the complete trace (the car, the tool and the writer are stopped)."""
        if self.known is None:
            summary = summarize(self.trace)
        else:  # the profile's addresses
            engine, key_targets = targets_for(self.known)
            summary = summarize(self.trace, [*key_targets.values(), engine])
        self.summary.write_text(summary.render(), encoding="utf-8")
        write_plot(summary, self.plot)
        self.console.step("Bus trace")
        self.console.info(
            f"{summary.frames} frames ({summary.body_frames} body, "
            f"{summary.diagnostic_frames} diagnostic), {len(summary.uds)} UDS messages"
        )
        self.console.info(f"trace (candump format): {self.trace}")
        self.console.info(f"decoded summary: {self.summary}")
        self.console.info(f"timeline picture: {self.plot}")
        if summary.undecodable:
            raise DemoError(f"{len(summary.undecodable)} body frames do not decode with the DBC")
        return DemoResult(self.folder, self.trace, self.summary, self.plot, reset_done)
