"""The transponder key ECU ("immobilizer"): key codes, reset and key registration."""
