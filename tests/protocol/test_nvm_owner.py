"""The optional ``owner`` of an NVM file (protocol/nvm.py): refused when another's, accepted when
absent (files of an earlier ecusim), written with the next save, never dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocol.errors import NvmCorruptError, NvmOwnerError
from protocol.nvm import FileNvm, JsonValue

MINE: dict[str, JsonValue] = {"vin": "JTHLSL1S045000001", "model": "LS430", "year": 2004}
THEIRS: dict[str, JsonValue] = {"vin": "JTHLSLAS2C5000001", "model": "LS460", "year": 2012}


def _document(path: Path) -> dict[str, JsonValue]:
    document = json.loads(path.read_text(encoding="ascii"))
    assert isinstance(document, dict)
    return document


def test_a_save_writes_the_owner_beside_the_data(tmp_path: Path) -> None:
    path = tmp_path / "engine.nvm.json"
    FileNvm(path, kind="engine", owner=MINE).save({"a": 1})
    assert _document(path)["owner"] == MINE
    assert FileNvm(path, kind="engine", owner=MINE).load() == {"a": 1}
    assert FileNvm(path, kind="engine").read_owner() == MINE


def test_a_file_of_another_owner_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "engine.nvm.json"
    FileNvm(path, kind="engine", owner=THEIRS).save({"a": 1})
    before = path.read_bytes()
    store = FileNvm(path, kind="engine", owner=MINE)
    with pytest.raises(NvmOwnerError, match=r"belongs to model LS460, vin JTHLSLAS2C5000001") as e:
        store.load()
    assert e.value.owner == THEIRS and e.value.expected == MINE
    with pytest.raises(NvmOwnerError):
        store.save({"a": 2})  # never overwrites what it could not read as its own
    assert path.read_bytes() == before


def test_a_file_without_an_owner_is_accepted_and_gets_it_on_the_next_save(
    tmp_path: Path,
) -> None:
    path = tmp_path / "engine.nvm.json"
    FileNvm(path, kind="engine").save({"a": 1})  # as an ecusim before owners wrote it
    assert "owner" not in _document(path)
    store = FileNvm(path, kind="engine", owner=MINE)
    assert store.load() == {"a": 1}
    store.save({"a": 2})
    assert _document(path)["owner"] == MINE


def test_a_store_without_an_owner_keeps_the_files_owner(tmp_path: Path) -> None:
    path = tmp_path / "engine.nvm.json"
    FileNvm(path, kind="engine", owner=MINE).save({"a": 1})
    plain = FileNvm(path, kind="engine")
    assert plain.load() == {"a": 1}
    plain.save({"a": 2})
    assert _document(path)["owner"] == MINE


def test_an_owner_that_is_not_an_object_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "engine.nvm.json"
    FileNvm(path, kind="engine").save({"a": 1})
    document = _document(path)
    document["owner"] = "LS430"
    path.write_text(json.dumps(document), encoding="ascii")
    with pytest.raises(NvmCorruptError, match="'owner' field of type str"):
        FileNvm(path, kind="engine", owner=MINE).load()
