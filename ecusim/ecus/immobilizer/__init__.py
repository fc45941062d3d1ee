"""The transponder key ECU ("immobilizer") and the ECM-integrated immobilizer: key codes, reset
and key registration."""
