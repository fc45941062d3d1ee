"""The car as a whole: the :class:`~ecusim.car.vehicle.Vehicle` that composes a key system's ECUs on
one CAN connection, and the physical world around them.

- :mod:`~ecusim.car.vehicle`: the vehicle and its embedding API;
- :mod:`~ecusim.car.physical`: ignition, key location, speed, brake, doors;
- :mod:`~ecusim.car.keys`: transponder, smart and remote keys;
- :mod:`~ecusim.car.body_network`: the periodic body frames of the DBC;
- :mod:`~ecusim.car.body_signals`: the signal values of the car's own body messages;
- :mod:`~ecusim.car.lab_control`: the body frames the car hears, lab controls included;
- :mod:`~ecusim.car.keyless` and :mod:`~ecusim.car.keyless_setup`: keyless entry receivers.

The ECUs themselves are in :mod:`ecusim.ecus`, and how they are put together per immobilizer
generation in :mod:`ecusim.systems`.
"""
