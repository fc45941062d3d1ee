"""The certification ECU ("smart key"): smart key codes, reset and smart key code registration
(diagnostics.md §1, docs/smart-key.md)."""
