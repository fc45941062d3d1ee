"""Tests of the transponder key ECU ("immobilizer"): its pure UDS server byte by byte and the
car's physical behaviour (keys, ignition, brake, start) on a FakeClock."""
