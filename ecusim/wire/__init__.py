"""What the car does, read off the bus: a passive decoder of the diagnostic and body traffic.

:class:`~ecusim.wire.decoder.WireDecoder` is fed python-can messages (a ``can.Listener``); it
reassembles ISO-TP (:mod:`ecusim.wire.reassembly`), pairs UDS requests with their responses into
named :class:`~ecusim.wire.exchange.Exchange` records (:mod:`ecusim.wire.names`), and tracks the
car's state (:mod:`ecusim.wire.car_state`) from the body frames (decoded with the shipped DBC)
and from the exchanges. It only reads the bus: like the scan tool it never reaches the ECUs, so it
watches a car in another process or a real ECU speaking the contract. ``ecusim monitor`` and
``ecusim run --monitor/--events`` are built on it (docs/monitor.md).
"""
