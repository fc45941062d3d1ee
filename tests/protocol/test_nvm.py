"""NVM stores: atomic, checksummed, refusing corrupt or foreign files (design guide)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ConfigurationError, NvmCorruptError, NvmError
from protocol.nvm import FileNvm, JsonValue, MemoryNvm, NvmStore, canonical_json

KIND = "immobilizer"
DATA: dict[str, JsonValue] = {
    "failed_attempts": 2,
    "last_attempt_failed": True,
    "vin": "JTHBL5EF0C5000001",
    "keys": [{"id": "0A1B", "master": True}, {"id": "FF00", "master": False}],
    "ratio": 0.5,
    "note": None,
}


def _document(data: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    document: dict[str, Any] = {
        "format": "ecusim-nvm",
        "kind": KIND,
        "version": 1,
        "sha256": hashlib.sha256(canonical).hexdigest(),
        "data": data,
    }
    document.update(overrides)
    return document


def test_stores_satisfy_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryNvm(), NvmStore)
    assert isinstance(FileNvm(tmp_path / "nvm.json", kind=KIND), NvmStore)


def test_file_round_trip_and_format(tmp_path: Path) -> None:
    path = tmp_path / "ecu" / "deep" / "immobilizer.json"  # parents are created
    store = FileNvm(path, kind=KIND)
    assert store.load() is None
    store.save(DATA)
    assert store.load() == DATA
    assert FileNvm(path, kind=KIND).load() == DATA  # a new instance: a power cycle

    document = json.loads(path.read_text(encoding="utf-8"))
    assert document == _document(DATA)
    assert list(document) == ["format", "kind", "version", "sha256", "data"]


def test_file_save_overwrites_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "nvm.json"
    store = FileNvm(path, kind=KIND)
    for counter in range(5):
        store.save({"failed_attempts": counter})
    assert FileNvm(path, kind=KIND).load() == {"failed_attempts": 4}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nvm.json"]


def test_file_load_returns_independent_copies(tmp_path: Path) -> None:
    store = FileNvm(tmp_path / "nvm.json", kind=KIND)
    store.save(DATA)
    loaded = store.load()
    assert loaded is not None
    loaded["failed_attempts"] = 99
    assert store.load() == DATA


def test_failed_write_keeps_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nvm.json"
    store = FileNvm(path, kind=KIND)
    store.save({"failed_attempts": 1})
    before = path.read_bytes()

    def broken_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(NvmError, match=rf"cannot write NVM file {path}") as info:
        store.save({"failed_attempts": 2})
    assert not isinstance(info.value, NvmCorruptError)
    assert isinstance(info.value, OSError)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nvm.json"]


def test_unwritable_location_is_nvm_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = blocker / "nvm.json"
    with pytest.raises(NvmError, match=str(path)):
        FileNvm(path, kind=KIND).save({"a": 1})


def test_unreadable_path_is_nvm_error(tmp_path: Path) -> None:
    directory = tmp_path / "nvm.json"
    directory.mkdir()
    with pytest.raises(NvmError, match=str(directory)) as info:
        FileNvm(directory, kind=KIND).load()
    assert not isinstance(info.value, NvmCorruptError)


CORRUPT_CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty": (lambda: b"", "is empty"),
    "whitespace": (lambda: b"  \n", "is empty"),
    "truncated": (
        lambda: json.dumps(_document(dict(DATA))).encode()[:-7],
        "is not valid JSON",
    ),
    "not utf-8": (lambda: b'{"format": "\xff"}', "is not UTF-8"),
    "not json": (lambda: b"failed_attempts=3", "is not valid JSON"),
    "nan": (
        lambda: json.dumps(_document({"x": 1})).replace('"x": 1', '"x": NaN').encode(),
        "is not valid JSON",
    ),
    "infinite number": (
        lambda: json.dumps(_document({"x": 1})).replace('"x": 1', '"x": 1e400').encode(),
        "cannot represent exactly",
    ),
    "too deep": (lambda: b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
    "array": (lambda: b"[1, 2]", "holds a JSON list, not an object"),
    "wrong format": (
        lambda: json.dumps(_document(dict(DATA), format="other-tool")).encode(),
        "is not an ecusim NVM file",
    ),
    "no format": (
        lambda: json.dumps({"kind": KIND, "data": {}}).encode(),
        "is not an ecusim NVM file",
    ),
    "missing fields": (
        lambda: json.dumps({"format": "ecusim-nvm", "kind": KIND, "data": {}}).encode(),
        "lacks the field\\(s\\) version, sha256",
    ),
    "future version": (
        lambda: json.dumps(_document(dict(DATA), version=2)).encode(),
        "unknown format version 2",
    ),
    "bool version": (
        lambda: json.dumps(_document(dict(DATA), version=True)).encode(),
        "unknown format version True",
    ),
    "data not object": (
        lambda: json.dumps(_document({}) | {"data": [1]}).encode(),
        "'data' field of type list",
    ),
    "checksum mismatch": (
        lambda: json.dumps(_document(dict(DATA), sha256="0" * 64)).encode(),
        "fails its checksum",
    ),
    "checksum not str": (
        lambda: json.dumps(_document(dict(DATA), sha256=5)).encode(),
        "fails its checksum",
    ),
    "tampered data": (
        lambda: json.dumps(
            _document(dict(DATA)) | {"data": dict(DATA) | {"failed_attempts": 0}}
        ).encode(),
        "fails its checksum",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_CASES))
def test_corrupt_file_is_refused_and_left_unchanged(tmp_path: Path, case: str) -> None:
    make, problem = CORRUPT_CASES[case]
    path = tmp_path / "nvm.json"
    content = make()
    path.write_bytes(content)
    store = FileNvm(path, kind=KIND)

    with pytest.raises(NvmCorruptError, match=problem) as info:
        store.load()
    message = str(info.value)
    assert str(path) in message
    assert f"delete {path} to reinitialise" in message
    assert isinstance(info.value, NvmError)

    # save() must not silently replace the corrupt file either.
    with pytest.raises(NvmCorruptError):
        store.save({"failed_attempts": 0})
    with pytest.raises(NvmCorruptError):
        FileNvm(path, kind=KIND).save({"failed_attempts": 0})
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nvm.json"]


def test_foreign_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nvm.json"
    FileNvm(path, kind="smart-key").save({"smart_keys": 3})
    content = path.read_bytes()
    store = FileNvm(path, kind=KIND)
    with pytest.raises(NvmCorruptError, match="belongs to another kind of ECU") as info:
        store.load()
    assert "'smart-key', expected 'immobilizer'" in str(info.value)
    assert str(path) in str(info.value)
    with pytest.raises(NvmCorruptError):
        store.save({"failed_attempts": 0})
    assert path.read_bytes() == content


def test_stored_checksum_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "nvm.json"
    document = _document({"a": 1})
    document["sha256"] = document["sha256"].upper()
    path.write_text(json.dumps(document))
    assert FileNvm(path, kind=KIND).load() == {"a": 1}


def test_file_kind_must_be_non_empty(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        FileNvm(tmp_path / "nvm.json", kind=" ")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"x": float("nan")}, ValueError),
        ({"x": float("inf")}, ValueError),
        ({"x": {1: "int key"}}, TypeError),
        ({"x": b"bytes"}, TypeError),
        ({"x": (1, 2)}, TypeError),
    ],
)
def test_non_json_data_is_refused(tmp_path: Path, data: Any, error: type[Exception]) -> None:
    path = tmp_path / "nvm.json"
    with pytest.raises(error):
        FileNvm(path, kind=KIND).save(data)
    assert not path.exists()
    with pytest.raises(error):
        MemoryNvm().save(data)


def test_memory_store_deep_copies() -> None:
    store = MemoryNvm()
    assert store.load() is None
    data: dict[str, JsonValue] = {"keys": [{"id": "0A1B"}]}
    store.save(data)
    keys = data["keys"]
    assert isinstance(keys, list)
    keys.append({"id": "FFFF"})  # mutating the caller's object after save
    loaded = store.load()
    assert loaded == {"keys": [{"id": "0A1B"}]}
    assert loaded is not None
    loaded["keys"] = []  # mutating a loaded copy
    assert store.load() == {"keys": [{"id": "0A1B"}]}


def test_memory_store_initial_data_and_sharing() -> None:
    initial: dict[str, JsonValue] = {"failed_attempts": 3}
    store = MemoryNvm(initial)
    initial["failed_attempts"] = 0
    assert store.load() == {"failed_attempts": 3}
    shared = store  # a "new server" handed the same instance keeps the data
    shared.save({"failed_attempts": 1})
    assert store.load() == {"failed_attempts": 1}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_file_round_trip_property(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    path = tmp_path_factory.mktemp("nvm") / "nvm.json"
    FileNvm(path, kind=KIND).save(data)
    assert FileNvm(path, kind=KIND).load() == data
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["sha256"] == hashlib.sha256(canonical_json(data)).hexdigest()


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": [1, 2.5], "a": {"é": None}}) == (
        b'{"a":{"\\u00e9":null},"b":[1,2.5]}'
    )


def test_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "nvm.json"
    FileNvm(path, kind=KIND).save({"a": 1})
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0
