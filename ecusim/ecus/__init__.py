"""Simulated ECUs: each builds a UDS server and the addresses it answers on."""
