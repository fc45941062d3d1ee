"""The signal values of the car's own body messages, read from its state at each transmission."""

from __future__ import annotations

from dbc import body
from ecusim.car.keyless_setup import KeylessSetup
from ecusim.car.physical import KeyLocation, PhysicalState
from ecusim.ecus.start_control import StartResult
from ecusim.systems.base import KeySystem, Provider, SignalValues


class BodySignals:
    """The providers of the body messages a car broadcasts: its physical state, its key
    system's start decision and its keyless entry receiver (read under the vehicle's lock)."""

    def __init__(self, physical: PhysicalState, system: KeySystem, keyless: KeylessSetup) -> None:
        self._physical = physical
        self._system = system
        self._keyless = keyless

    def providers(self) -> dict[str, Provider]:
        """Message name to provider: the car's own messages, then its key system's."""
        providers: dict[str, Provider] = {
            body.IGNITION_STATUS: self.ignition,
            body.VEHICLE_SPEED: self.speed,
            body.DOOR_STATUS: self.doors,
            body.ENGINE_STATUS: self.engine,
            body.KEYLESS_ENTRY: self.keyless,
        }
        providers.update(self._system.providers())
        return providers

    def key_in(self) -> bool:
        """A key in the cylinder, or (smart) a key in the cabin or at the switch."""
        inside = (KeyLocation.CABIN, KeyLocation.SWITCH)
        carried = any(location in inside for location in self._physical.carried.values())
        return self._physical.inserted_key is not None or carried

    def ignition(self) -> SignalValues:
        return {
            "IgnitionState": int(self._physical.ignition),
            "KeyInserted": int(self.key_in()),
            "BrakePressed": int(self._physical.brake_pressed),
        }

    def speed(self) -> SignalValues:
        return {"VehicleSpeed": round(self._physical.speed_kmh, 2)}

    def doors(self) -> SignalValues:
        doors = self._physical.doors_open
        return {
            "DriverDoorOpen": int(doors["driver"]),
            "PassengerDoorOpen": int(doors["passenger"]),
            "RearLeftDoorOpen": int(doors["rear_left"]),
            "RearRightDoorOpen": int(doors["rear_right"]),
            "TrunkOpen": int(doors["trunk"]),
            "CourtesyLight": int(any(doors.values())),
            "DoorsLocked": int(self._physical.doors_locked),
        }

    def engine(self) -> SignalValues:
        control = self._system.start_control
        return {
            "EngineRunning": int(control.engine_running),
            "ImmobilizerIdMatch": int(control.last_result is not StartResult.ID_MISMATCH),
            "LastStartResult": int(control.last_result),
            "StartAttempts": control.start_attempts,
            "EngineSpeed": 700.0 if control.engine_running else 0.0,
        }

    def keyless(self) -> SignalValues:
        receiver = self._keyless.receiver
        return {
            "DoorsLocked": int(self._physical.doors_locked),
            "LastCommand": int(receiver.last.command),
            "Accepted": int(receiver.last.accepted),
            "CommandCounter": receiver.command_counter,
        }
