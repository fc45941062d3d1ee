"""SecurityAccess state in NVM (diagnostic-contract.md §3): each level's failed-attempt counter and
"last attempt failed" flag survive a power cycle (a new server instance), ECUReset and a killed
process; after a failed last attempt on a level, its requestSeed answers 0x37 for the 10 s boot
delay (the other levels are not delayed). The record of earlier versions (one flat counter for
all levels) still loads, applied to every level.

Every test runs on a MemoryNvm (the same object handed to the new server) and on a FileNvm (a new
FileNvm object on the same path: a killed and restarted process)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from protocol.errors import NvmCorruptError, NvmError
from protocol.nvm import FileNvm, JsonValue, MemoryNvm, NvmStore
from protocol.uds.security import NVM_FAILED_ATTEMPTS, NVM_LAST_ATTEMPT_FAILED, NVM_LEVELS

from .conftest import (
    LEVEL_DIAG,
    LEVEL_IMMO,
    PHYSICAL,
    SECURITY_DELAY_S,
    Bench,
    enter_extended,
    key_for,
    make_bench,
    power_cycle,
    read_did,
    request_seed,
    security_status_response,
    send_wrong_key,
    unlock,
)

KIND = "ecm-security"

StoreFactory = Callable[[], NvmStore]
"""Returns a store object on the same storage each time it is called."""


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "memory":
        memory = MemoryNvm()
        return lambda: memory
    path = tmp_path / "nvm" / "ecm-security.json"
    return lambda: FileNvm(path, kind=KIND)


@pytest.fixture
def nvm_path(tmp_path: Path) -> Path:
    return tmp_path / "ecm-security.json"


def status(bench: Bench) -> bytes | None:
    """DID 0x010C: per level, failed attempts and delay remaining (2 bytes, whole seconds)."""
    return read_did(bench, 0x010C)


def requestseed_response(bench: Bench) -> bytes | None:
    return bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01


# -- power cycle --------------------------------------------------------------------------------


def test_counter_and_flag_survive_a_power_cycle(store: StoreFactory) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    bench.advance(1.0)
    rebooted = power_cycle(bench, nvm=store())
    # level 0x01: 1 failed attempt kept across the power cycle, 10 s boot delay (its last
    # attempt failed); level 0x11: clean, no delay
    assert status(rebooted) == security_status_response(diag=(1, 10), immo=(0, 0))
    enter_extended(rebooted)
    response = requestseed_response(rebooted)
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired


def test_boot_delay_lasts_10_s_then_requestseed_works(store: StoreFactory) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    rebooted = power_cycle(bench, nvm=store())
    for _ in range(4):  # 0, 3, 6 and 9 s after power-on
        enter_extended(rebooted)
        response = requestseed_response(rebooted)
        assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
        assert request_seed(rebooted, LEVEL_IMMO) != bytes(16)  # the other level: no delay
        rebooted.advance(3.0)
    enter_extended(rebooted)  # 12 s after power-on: the boot delay is over
    unlock(rebooted, LEVEL_DIAG)
    assert status(rebooted) == security_status_response(diag=(0, 0), immo=(0, 0))


def test_boot_delay_ends_exactly_after_10_s(store: StoreFactory) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    rebooted = power_cycle(bench, nvm=store())
    rebooted.advance(SECURITY_DELAY_S - 0.5)  # 9.5 s after power-on
    enter_extended(rebooted)
    response = requestseed_response(rebooted)
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
    rebooted.advance(0.5)
    assert request_seed(rebooted, LEVEL_DIAG) != bytes(4)


def test_no_boot_delay_when_the_last_attempt_succeeded(store: StoreFactory) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    unlock(bench, LEVEL_DIAG)
    rebooted = power_cycle(bench, nvm=store())
    assert status(rebooted) == security_status_response(diag=(0, 0), immo=(0, 0))
    enter_extended(rebooted)
    assert request_seed(rebooted, LEVEL_DIAG) != bytes(4)


def test_blank_nvm_has_no_boot_delay(store: StoreFactory) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    assert request_seed(bench, LEVEL_IMMO) != bytes(16)


def test_lockout_is_not_bypassed_by_power_cycles(store: StoreFactory) -> None:
    # Regression: the counter was never persisted, so a power cycle gave three fresh attempts.
    bench = make_bench(nvm=store())
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    for expected in (0x35, 0x36):
        bench = power_cycle(bench, nvm=store())
        bench.advance(SECURITY_DELAY_S)  # sit out the boot delay
        enter_extended(bench)
        response = send_wrong_key(bench, LEVEL_DIAG)
        assert response == bytes([0x7F, 0x27, expected])  # negative, SA, 0x35 then 0x36


def test_delay_after_0x36_is_not_bypassed_by_a_power_cycle(store: StoreFactory) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    for _ in range(2):
        assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, 0x35
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x36])  # neg, SA, exceeded
    bench.advance(5.0)
    rebooted = power_cycle(bench, nvm=store())  # 5 s into the delay
    rebooted.advance(SECURITY_DELAY_S - 0.5)  # 9.5 s after power-on
    enter_extended(rebooted)
    response = requestseed_response(rebooted)
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
    rebooted.advance(0.5)
    assert request_seed(rebooted, LEVEL_DIAG) != bytes(4)


# -- ECUReset -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reset_type", [0x01, 0x03])  # hardReset, softReset
def test_ecu_reset_starts_the_boot_delay(store: StoreFactory, reset_type: int) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    bench.advance(20.0)  # well past any delay before the reset
    response = bench.handle(bytes([0x11, reset_type]))  # ECUReset, resetType
    assert response == bytes([0x51, reset_type])  # positive SID, resetType echo
    enter_extended(bench)
    response = requestseed_response(bench)
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
    bench.advance(SECURITY_DELAY_S - 0.5)
    enter_extended(bench)
    response = requestseed_response(bench)
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
    bench.advance(0.5)
    unlock(bench, LEVEL_DIAG)


def test_ecu_reset_after_a_successful_attempt_has_no_delay(store: StoreFactory) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x11, 0x01]))  # ECUReset, hardReset
    assert response == bytes([0x51, 0x01])  # positive SID, hardReset
    enter_extended(bench)
    assert request_seed(bench, LEVEL_DIAG) != bytes(4)


# -- write-through ------------------------------------------------------------------------------


def _stored(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))["data"]


def _record(diag: tuple[int, bool], immo: tuple[int, bool] = (0, False)) -> dict[str, object]:
    """The NVM record of levels 0x01 and 0x11: (failed attempts, last attempt failed) each."""
    return {
        NVM_LEVELS: {
            str(level): {NVM_FAILED_ATTEMPTS: attempts, NVM_LAST_ATTEMPT_FAILED: failed}
            for level, (attempts, failed) in ((LEVEL_DIAG, diag), (LEVEL_IMMO, immo))
        }
    }


def test_counter_is_on_disk_before_the_response_is_returned(nvm_path: Path) -> None:
    bench = make_bench(nvm=FileNvm(nvm_path, kind=KIND))
    enter_extended(bench)
    expected_counts = (1, 2, 3)
    expected_nrcs = (0x35, 0x35, 0x36)
    for count, nrc in zip(expected_counts, expected_nrcs, strict=True):
        response = send_wrong_key(bench, LEVEL_DIAG)
        stored = _stored(nvm_path)  # read right after the call, before anything else runs
        assert response == bytes([0x7F, 0x27, nrc])  # negative, SA, invalidKey / exceeded
        assert stored == _record(diag=(count, True))
        assert FileNvm(nvm_path, kind=KIND).load() == stored  # valid file (checksum and all)


def test_right_key_clears_the_counter_on_disk(nvm_path: Path) -> None:
    bench = make_bench(nvm=FileNvm(nvm_path, kind=KIND))
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    unlock(bench, LEVEL_DIAG)
    assert _stored(nvm_path) == _record(diag=(0, False))


# -- corrupt files ------------------------------------------------------------------------------


def _valid_document(
    data: dict[str, object], *, checksum_of: dict[str, object] | None = None
) -> str:
    """An NVM file document for ``data`` whose checksum covers ``checksum_of`` (default: data)."""
    covered = data if checksum_of is None else checksum_of
    canonical = json.dumps(covered, sort_keys=True, separators=(",", ":")).encode("ascii")
    document = {
        "format": "ecusim-nvm",
        "kind": KIND,
        "version": 1,
        "sha256": hashlib.sha256(canonical).hexdigest(),
        "data": data,
    }
    return json.dumps(document)


CORRUPT_CONTENTS = {
    "garbage": "\x00\x01not json at all",
    "empty": "",
    "truncated": _valid_document({NVM_FAILED_ATTEMPTS: 2, NVM_LAST_ATTEMPT_FAILED: True})[:40],
    "bad checksum": _valid_document(  # counter edited from 2 to 0 without a new checksum
        {NVM_FAILED_ATTEMPTS: 0, NVM_LAST_ATTEMPT_FAILED: False},
        checksum_of={NVM_FAILED_ATTEMPTS: 2, NVM_LAST_ATTEMPT_FAILED: True},
    ),
    "counter not a number": _valid_document(
        {NVM_FAILED_ATTEMPTS: "three", NVM_LAST_ATTEMPT_FAILED: True}
    ),
    "counter out of range": _valid_document(
        {NVM_FAILED_ATTEMPTS: 300, NVM_LAST_ATTEMPT_FAILED: True}
    ),
    "flag not a bool": _valid_document({NVM_FAILED_ATTEMPTS: 1, NVM_LAST_ATTEMPT_FAILED: "yes"}),
    "levels not an object": _valid_document({NVM_LEVELS: [1, 17]}),
    "level not a number": _valid_document(
        {NVM_LEVELS: {"one": {NVM_FAILED_ATTEMPTS: 1, NVM_LAST_ATTEMPT_FAILED: True}}}
    ),
    "level even": _valid_document(
        {NVM_LEVELS: {"2": {NVM_FAILED_ATTEMPTS: 1, NVM_LAST_ATTEMPT_FAILED: True}}}
    ),
    "level not canonical": _valid_document(
        {NVM_LEVELS: {"017": {NVM_FAILED_ATTEMPTS: 1, NVM_LAST_ATTEMPT_FAILED: True}}}
    ),
    "level entry not an object": _valid_document({NVM_LEVELS: {"17": 3}}),
    "level counter out of range": _valid_document(
        {NVM_LEVELS: {"17": {NVM_FAILED_ATTEMPTS: 256, NVM_LAST_ATTEMPT_FAILED: True}}}
    ),
    "level flag not a bool": _valid_document(
        {NVM_LEVELS: {"17": {NVM_FAILED_ATTEMPTS: 1, NVM_LAST_ATTEMPT_FAILED: 1}}}
    ),
}


@pytest.mark.parametrize("content", CORRUPT_CONTENTS.values(), ids=CORRUPT_CONTENTS.keys())
def test_corrupt_security_file_raises_naming_the_file_at_power_on(
    nvm_path: Path, content: str
) -> None:
    nvm_path.write_text(content, encoding="utf-8")
    with pytest.raises(NvmCorruptError) as caught:
        make_bench(nvm=FileNvm(nvm_path, kind=KIND))  # powers the server on
    assert str(nvm_path) in str(caught.value)
    assert nvm_path.read_text(encoding="utf-8") == content  # never replaced silently


@pytest.mark.parametrize("content", CORRUPT_CONTENTS.values(), ids=CORRUPT_CONTENTS.keys())
def test_corrupt_security_file_raises_naming_the_file_when_the_server_is_built(
    nvm_path: Path, content: str
) -> None:
    """Validated at construction, before the ECU could write anything into the file."""
    nvm_path.write_text(content, encoding="utf-8")
    with pytest.raises(NvmCorruptError) as caught:
        make_bench(nvm=FileNvm(nvm_path, kind=KIND), power_on=False)
    assert str(nvm_path) in str(caught.value)
    assert nvm_path.read_text(encoding="utf-8") == content


class _FailingNvm(MemoryNvm):
    """Memory that refuses writes once ``fail`` is set (a full or read-only disk)."""

    fail = False

    def save(self, data: Mapping[str, JsonValue]) -> None:
        if self.fail:
            raise NvmError("disk full")
        super().save(data)


def test_correct_key_does_not_unlock_when_the_counter_cannot_be_saved() -> None:
    """A failing NVM write answers 0x72 and leaves the server locked (save before unlock)."""
    store = _FailingNvm()
    bench = make_bench(nvm=store)
    enter_extended(bench)
    seed = request_seed(bench, LEVEL_DIAG)
    store.fail = True
    response = bench.server.handle(
        bytes([0x27, 0x02]) + key_for(LEVEL_DIAG, seed),  # SecurityAccess sendKey level 0x01 + key
        PHYSICAL,
        bench.clock.now(),
    )
    # negative response, SecurityAccess, generalProgrammingFailure
    assert response == bytes([0x7F, 0x27, 0x72])
    assert bench.server.security.unlocked_level is None


# -- per level ----------------------------------------------------------------------------------


def test_each_level_keeps_its_own_state_across_a_power_cycle(store: StoreFactory) -> None:
    bench = make_bench(nvm=store())
    enter_extended(bench)
    for expected in (0x35, 0x35, 0x36):  # invalidKey, invalidKey, exceededNumberOfAttempts
        assert send_wrong_key(bench, LEVEL_IMMO) == bytes([0x7F, 0x27, expected])  # neg, SA, NRC
        unlock(bench, LEVEL_DIAG)  # a right level-0x01 key clears only level 0x01
        enter_extended(bench)  # re-lock
    rebooted = power_cycle(bench, nvm=store())
    # level 0x01: clean, no delay; level 0x11: 3 failed attempts, 10 s boot delay
    assert status(rebooted) == security_status_response(diag=(0, 0), immo=(3, 10))
    enter_extended(rebooted)
    response = rebooted.handle(bytes([0x27, 0x11]))  # SecurityAccess, requestSeed level 0x11
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
    unlock(rebooted, LEVEL_DIAG)  # level 0x01's last attempt succeeded: no boot delay


class _CountingNvm(MemoryNvm):
    """Memory that keeps a copy of every record saved."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[object] = []

    def save(self, data: Mapping[str, JsonValue]) -> None:
        self.saved.append(json.loads(json.dumps(data)))
        super().save(data)


def test_every_level_is_saved_in_one_write() -> None:
    store = _CountingNvm()
    bench = make_bench(nvm=store)
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_IMMO) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    assert store.saved == [_record(diag=(0, False), immo=(1, True))]
    unlock(bench, LEVEL_DIAG)
    assert store.saved[1:] == [_record(diag=(0, False), immo=(1, True))]  # one write, 0x11 kept


@pytest.mark.parametrize("last_failed", [True, False])
def test_the_flat_record_of_earlier_versions_applies_to_every_level(
    nvm_path: Path, last_failed: bool
) -> None:
    """Fail safe: the one counter and flag of a state folder written before per-level state
    become every level's."""
    flat: dict[str, object] = {NVM_FAILED_ATTEMPTS: 2, NVM_LAST_ATTEMPT_FAILED: last_failed}
    nvm_path.write_text(_valid_document(flat), encoding="utf-8")
    bench = make_bench(nvm=FileNvm(nvm_path, kind=KIND))
    delay = 10 if last_failed else 0  # the boot delay, on every level whose last attempt failed
    assert status(bench) == security_status_response(diag=(2, delay), immo=(2, delay))
    bench.advance(SECURITY_DELAY_S)
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x36])  # 3rd on 0x01: exceeded
    assert send_wrong_key(bench, LEVEL_IMMO) == bytes([0x7F, 0x27, 0x36])  # 3rd on 0x11: exceeded
    assert _stored(nvm_path) == _record(diag=(3, True), immo=(3, True))  # rewritten per level


def test_a_level_missing_from_the_record_starts_clean_and_an_unknown_one_is_dropped(
    nvm_path: Path,
) -> None:
    record: dict[str, object] = {
        NVM_LEVELS: {
            "17": {NVM_FAILED_ATTEMPTS: 1, NVM_LAST_ATTEMPT_FAILED: True},
            "5": {NVM_FAILED_ATTEMPTS: 9, NVM_LAST_ATTEMPT_FAILED: True},  # not configured
        }
    }
    nvm_path.write_text(_valid_document(record), encoding="utf-8")
    bench = make_bench(nvm=FileNvm(nvm_path, kind=KIND))
    assert status(bench) == security_status_response(diag=(0, 0), immo=(1, 10))
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    assert _stored(nvm_path) == _record(diag=(0, False), immo=(1, True))


def test_an_unreadable_record_after_ecu_reset_delays_every_level(nvm_path: Path) -> None:
    """ECUReset powers on leniently: a record that became unreadable fails safe, with the boot
    delay on every level."""
    bench = make_bench(nvm=FileNvm(nvm_path, kind=KIND))
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    nvm_path.write_text("garbage", encoding="utf-8")
    response = bench.handle(bytes([0x11, 0x01]))  # ECUReset, hardReset
    assert response == bytes([0x51, 0x01])  # positive SID, hardReset
    assert status(bench) == security_status_response(diag=(0, 10), immo=(0, 10))
