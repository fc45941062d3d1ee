"""The workflow library with the car's refusals: wrong Pass-Codes (0x35, 0x36), the security
delay (0x37, waited out with a progress bar), explained in words."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

import pytest

from ecusim.car.keys import KeyKind
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import SystemType
from ecusim.tool.console import Console, TextConsole
from ecusim.tool.errors import CarRefusedError
from ecusim.tool.identify import identify
from ecusim.tool.link import DiagnosticLink
from ecusim.tool.registration import KeyRegistration
from ecusim.tool.reset import ResetUtility
from ecusim.tool.targets import IMMOBILIZER
from protocol.clock import ScaledClock
from protocol.passcode import pass_code
from tests.tool.tool_kit import ready_for_reset


class WrongThenRight:
    """A Pass-Code source that answers wrong ``wrong`` times, then right."""

    def __init__(self, wrong: int) -> None:
        self.wrong = wrong

    def pass_code_for(
        self, vin: str, seed: bytes, console: Console, car_alive: Callable[[], None] = print
    ) -> bytes:
        right = pass_code(vin, seed)
        if self.wrong > 0:
            self.wrong -= 1
            return bytes(b ^ 0xFF for b in right)
        return right


def _ready(running_car: Callable[..., Vehicle], **options: object) -> Vehicle:
    return ready_for_reset(running_car("LS430", 2004, **options))


def test_a_wrong_pass_code_is_explained(
    running_car: Callable[..., Vehicle], link: DiagnosticLink
) -> None:
    _ready(running_car, time_scale=20.0)
    out = io.StringIO()
    console = TextConsole(out, assume_yes=True)
    identity = identify(link, console)
    with pytest.raises(CarRefusedError) as refused:
        ResetUtility(link, console, identity, WrongThenRight(1)).run()
    assert refused.value.nrc == 0x35
    assert "the car refused the Pass-Code: it does not belong to this Seed Number" in str(
        refused.value
    )
    assert "(NRC 0x35 invalidKey)" in str(refused.value)


def test_the_third_wrong_pass_code_then_the_delay_is_waited_out(
    running_car: Callable[..., Vehicle], link: DiagnosticLink
) -> None:
    # The car's clock drives its ISO timers too, 5 times fast: the 10 s delay lasts 2 s, and S3
    # 1 s, which every gap between two of the tool's requests must stay under. At 20 times fast
    # (S3 0.25 s, the delay 0.5 s) a loaded 2-core CI machine could stall the tool that long.
    car = _ready(running_car, clock=ScaledClock(5.0))
    out = io.StringIO()
    console = TextConsole(out, assume_yes=True)
    identity = identify(link, console)
    source = WrongThenRight(3)
    codes = []
    for _ in range(3):
        with pytest.raises(CarRefusedError) as refused:
            ResetUtility(link, console, identity, source).run()
        codes.append(refused.value.nrc)
    assert codes == [0x35, 0x35, 0x36]
    assert "too many wrong Pass-Codes" in str(refused.value)
    # The next attempt meets 0x37, waits out the delay with a progress bar, and resets.
    outcome = ResetUtility(link, console, identity, source).run()
    assert outcome.keys_left == 0
    text = out.getvalue()
    assert "3 failed Pass-Code attempt(s): the ECU's security delay has" in text
    (line,) = [line for line in text.splitlines() if line.startswith("  security delay ")]
    assert "100%" in line and line.endswith("over")
    assert car.immobilizer is not None
    assert car.immobilizer.key_count(KeyKind.MASTER) == car.immobilizer.key_count(KeyKind.SUB) == 0


class LateHands:
    """A technician who inserts each key a moment after being told to (a real one does)."""

    def __init__(self, car: Vehicle) -> None:
        self.car = car
        self.timers: list[threading.Timer] = []

    def present(self, number: int, kind: str, where: str) -> None:
        key = self.car.new_key(kind)
        timer = threading.Timer(0.5, self.car.present_key, args=(key,))
        self.timers.append(timer)
        timer.start()

    def withdraw(self) -> None:
        self.car.withdraw_key()


def test_the_ready_code_21_is_not_taken_for_a_failed_registration(
    running_car: Callable[..., Vehicle], link: DiagnosticLink
) -> None:
    car = _ready(running_car, time_scale=20.0)
    console = TextConsole(io.StringIO(), assume_yes=True)
    identity = identify(link, console)
    outcome = ResetUtility(link, console, identity, WrongThenRight(0)).run()
    assert outcome.indicator == (3, 21)  # flashing the ready code: waiting for the first key
    car.withdraw_key()
    hands = LateHands(car)
    result = KeyRegistration(link, console, identity, hands, ["master", "sub"]).run()
    for timer in hands.timers:
        timer.join()
    assert (result.masters, result.subs) == (1, 1)


def test_a_node_late_for_one_probe_is_still_found(
    running_car: Callable[..., Vehicle], link: DiagnosticLink
) -> None:
    """Identification asks each node for DID 0x010A within 0.5 s. The immobilizer's first answer
    comes 0.8 s late (a loaded machine, a busy gateway): asked again, it is found, instead of
    the car being taken for one without a key ECU."""
    car = running_car("LS430", 2004)
    # 22 01 0A: ReadDataByIdentifier, DID 0x010A (capabilities), once, on the key ECU only.
    late = car.faults.delay(0.8, sid=0x22, data=bytes([0x01, 0x0A]), ecu="immobilizer", times=1)
    identity = identify(link, TextConsole(io.StringIO(), assume_yes=True))
    assert late not in car.faults.rules()  # its one use was taken: the first answer was late
    assert identity.key_target is IMMOBILIZER
    assert identity.system_type is SystemType.TRANSPONDER_KEY_ECU
