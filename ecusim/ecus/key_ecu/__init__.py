"""The core of the ECUs that hold key codes (transponder key ECU, ECM-integrated immobilizer,
certification ECU): key store, indicator, registration modes, immobilizer DTCs, configuration,
wiring and the diagnostic surface they share."""
