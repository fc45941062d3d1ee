"""The certification ECU ("smart key"): smart key codes, reset and smart key code registration
(diagnostic-contract.md §1, docs/smart-key.md)."""
