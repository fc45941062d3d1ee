"""Run in a fresh Python process by ``test_bulletin_reset_procedure.py``: power the car up from
its state directory (a real process restart), read the key counts from the immobilizer's UDS
server and try to start the engine with each given key (rebuilt from its transponder ID alone).

Prints one JSON object: ``{"responses": {"0106": hex, "0107": hex}, "starts": {ID: bool}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import can

from ecusim.car.keys import Key
from ecusim.car.vehicle import Vehicle
from protocol.constants import Addressing


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--vin", required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("transponder_ids", nargs="*", help="hexadecimal transponder IDs")
    args = parser.parse_args(argv)

    car = Vehicle.from_catalog(
        args.model, args.year, args.vin, state_dir=args.state_dir, time_scale=args.time_scale
    )
    immobilizer = car.immobilizer
    assert immobilizer is not None, "a transponder key ECU car"
    responses: dict[str, str | None] = {}
    for did in (0x0106, 0x0107):
        request = bytes(
            [
                0x22,  # ReadDataByIdentifier
                did >> 8,  # dataIdentifier high byte
                did & 0xFF,  # dataIdentifier low byte
            ]
        )
        response = immobilizer.server.handle(request, Addressing.PHYSICAL, car.clock.now())
        responses[f"{did:04X}"] = response.hex() if response is not None else None

    starts: dict[str, bool] = {}
    bus = can.Bus(interface="virtual", channel=f"restart-probe-{uuid.uuid4().hex}")
    try:
        with car.running(bus):
            for text in args.transponder_ids:
                key = Key(int(text, 16))
                car.present_key(key)
                car.set_ignition("on")
                starts[f"{key.transponder_id:08X}"] = car.start_engine()
                car.withdraw_key()
    finally:
        bus.shutdown()
    print(json.dumps({"responses": responses, "starts": starts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
