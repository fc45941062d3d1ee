"""Sections of one shared NVM store never overwrite each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.errors import NvmCorruptError
from protocol.nvm import FileNvm, MemoryNvm
from protocol.nvm_section import SharedNvm


def test_sections_keep_each_others_data() -> None:
    shared = SharedNvm(MemoryNvm())
    security, identity = shared.section("security"), shared.section("identity")
    assert security.load() is None
    security.save({"failed_attempts": 2})
    identity.save({"vin": "JTHBL5EF0C5000001"})
    security.save({"failed_attempts": 3})
    assert security.load() == {"failed_attempts": 3}
    assert identity.load() == {"vin": "JTHBL5EF0C5000001"}


def test_sections_in_one_file_survive_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "ecu.json"
    SharedNvm(FileNvm(path, kind="engine")).section("security").save({"last_attempt_failed": True})
    SharedNvm(FileNvm(path, kind="engine")).section("identity").save({"vin": "X"})
    reopened = SharedNvm(FileNvm(path, kind="engine"))
    assert reopened.section("security").load() == {"last_attempt_failed": True}
    assert reopened.section("identity").load() == {"vin": "X"}


def test_a_section_that_is_not_an_object_is_corrupt(tmp_path: Path) -> None:
    """Reading it as blank would silently reset what it holds (e.g. the attempt counter)."""
    path = tmp_path / "ecu.json"
    FileNvm(path, kind="engine").save({"security": 5})
    with pytest.raises(NvmCorruptError, match=r"section 'security'.*not an object"):
        SharedNvm(FileNvm(path, kind="engine")).section("security").load()
