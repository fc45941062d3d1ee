"""Keyless-entry receivers without a car: the ROM type (1992 SC400 [S, domain.md §8]) and the
programmable type (MY1994+ [S]), ROM kits and their image files, and KeylessSetup's per-car
receiver kept in NVM."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ecusim.car.keyless import (
    PROGRAMMABLE_SLOTS,
    ROM_FORMAT_VERSION,
    ROM_KIT_PART_NUMBERS,
    ROM_MAGIC,
    KeylessCommand,
    KeylessError,
    KeylessReceiver,
    LearnRefusedError,
    Remote,
    RemoteButton,
    RomChip,
    _digest,
)
from ecusim.car.keyless_setup import FACTORY_REMOTES, KeylessSetup
from ecusim.catalog import Catalog, KeylessEntry
from protocol.errors import NvmCorruptError
from protocol.nvm import JsonValue, MemoryNvm

LOCK, UNLOCK, PANIC = RemoteButton.LOCK, RemoteButton.UNLOCK, RemoteButton.PANIC


def _kit(remotes: int = 2, seed: int = 1) -> tuple[RomChip, tuple[Remote, ...]]:
    return RomChip.kit(remotes, random.Random(seed))


def _stranger(*known: Remote, seed: int = 99) -> Remote:
    """A remote whose code none of ``known`` has."""
    rng = random.Random(seed)
    codes = {remote.code for remote in known}
    while True:
        code = rng.randrange(1, 1 << 32)
        if code not in codes:
            return Remote(code)


def _resealed(image: bytes, **changes: object) -> bytes:
    """``image`` with fields changed and a checksum that matches again (a consistent file)."""
    document = json.loads(image)
    document.pop("sha256")
    document.update(changes)
    return json.dumps({**document, "sha256": _digest(document)}).encode("ascii")


# -- remotes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, -1, 1 << 32])
def test_a_remote_code_is_a_non_zero_32_bit_number(code: int) -> None:
    with pytest.raises(KeylessError, match="non-zero 32-bit"):
        Remote(code)


def test_remote_names_its_code_in_hex() -> None:
    assert str(Remote(0x2265B1F6)) == "remote 2265B1F6"


# -- the ROM receiver ----------------------------------------------------------------------------


def test_rom_receiver_obeys_its_own_remotes() -> None:
    rom, remotes = _kit(2)
    receiver = KeylessReceiver(rom=rom)
    assert receiver.is_rom_type
    for remote in remotes:
        result = receiver.press(remote, LOCK)
        assert (result.command, result.accepted) == (KeylessCommand.LOCK, True)
        assert receiver.doors_locked
        result = receiver.press(remote, UNLOCK)
        assert (result.command, result.accepted) == (KeylessCommand.UNLOCK, True)
        assert not receiver.doors_locked
    assert receiver.command_counter == 4


def test_rom_receiver_ignores_any_other_code() -> None:
    rom, remotes = _kit(3)
    receiver = KeylessReceiver(rom=rom)
    receiver.press(remotes[0], LOCK)
    for seed in range(20):
        stranger = _stranger(*remotes, seed=seed)
        result = receiver.press(stranger, UNLOCK)
        assert (result.command, result.accepted) == (KeylessCommand.UNLOCK, False)
        assert receiver.last == result
        assert receiver.doors_locked, "an unknown code leaves the doors as they were"
    assert receiver.command_counter == 21, "every command received counts, accepted or not"


def test_panic_is_accepted_without_touching_the_locks() -> None:
    rom, remotes = _kit(1)
    receiver = KeylessReceiver(rom=rom)
    receiver.press(remotes[0], LOCK)
    result = receiver.press(remotes[0], PANIC)
    assert (result.command, result.accepted) == (KeylessCommand.PANIC, True)
    assert receiver.doors_locked


def test_command_counter_wraps_at_255() -> None:
    rom, remotes = _kit(1)
    receiver = KeylessReceiver(rom=rom)
    for _ in range(256):
        receiver.press(remotes[0], LOCK)
    assert receiver.command_counter == 0
    receiver.press(remotes[0], LOCK)
    assert receiver.command_counter == 1


def test_rom_receiver_refuses_to_learn_any_code() -> None:
    rom, remotes = _kit(2)
    receiver = KeylessReceiver(rom=rom)
    stranger = _stranger(*remotes)
    for remote in (stranger, remotes[0]):
        with pytest.raises(LearnRefusedError, match="89705-50944") as refused:
            receiver.learn(remote)
        assert "swap the ROM" in str(refused.value)
    assert isinstance(refused.value, KeylessError)
    assert receiver.rom == rom and receiver.learnt_codes == ()
    assert not receiver.press(stranger, UNLOCK).accepted, "a refused learn pairs nothing"


def test_rom_swap_makes_the_old_remotes_useless_and_the_new_ones_work() -> None:
    old_rom, old_remotes = _kit(2, seed=1)
    new_rom, new_remotes = _kit(3, seed=2)
    receiver = KeylessReceiver(rom=old_rom)
    receiver.swap_rom(new_rom)
    assert receiver.rom == new_rom
    for remote in old_remotes:
        assert not receiver.press(remote, UNLOCK).accepted
    for remote in new_remotes:
        assert receiver.press(remote, LOCK).accepted
    assert receiver.doors_locked


def test_a_programmable_receiver_has_no_rom_to_swap() -> None:
    rom, _ = _kit(1)
    receiver = KeylessReceiver(learnt=(0x1234,))
    with pytest.raises(KeylessError, match="programmable"):
        receiver.swap_rom(rom)
    assert receiver.rom is None and receiver.learnt_codes == (0x1234,)


# -- ROM kits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remotes", "part_number"), [(1, "89705-50943"), (2, "89705-50944"), (3, "89705-50945")]
)
def test_kits_of_1_2_3_remotes_have_their_part_numbers(remotes: int, part_number: str) -> None:
    rom, made = _kit(remotes)
    assert rom.part_number == part_number == ROM_KIT_PART_NUMBERS[remotes]
    assert len(made) == remotes
    assert rom.codes == tuple(remote.code for remote in made)
    assert len(set(rom.codes)) == remotes
    assert all(rom.accepts(remote.code) for remote in made)


def test_kit_is_deterministic_for_a_seed() -> None:
    assert _kit(3, seed=5) == _kit(3, seed=5)
    assert _kit(3, seed=5) != _kit(3, seed=6)


@pytest.mark.parametrize("remotes", [0, 4, -1])
def test_kits_come_with_1_2_or_3_remotes_only(remotes: int) -> None:
    with pytest.raises(KeylessError, match="1, 2 or 3"):
        _kit(remotes)


@pytest.mark.parametrize("codes", [(), (1, 2, 3, 4)])
def test_a_rom_holds_1_to_3_codes(codes: tuple[int, ...]) -> None:
    with pytest.raises(KeylessError, match="1, 2 or 3"):
        RomChip("89705-50944", codes)


def test_a_rom_holds_valid_remote_codes_only() -> None:
    with pytest.raises(KeylessError, match="non-zero 32-bit"):
        RomChip("89705-50943", (0,))


# -- ROM image files -----------------------------------------------------------------------------


def test_image_round_trip_in_memory_and_on_disk(tmp_path: Path) -> None:
    rom, _ = _kit(3)
    image = rom.to_image()
    document = json.loads(image)
    assert document["magic"] == ROM_MAGIC and document["version"] == ROM_FORMAT_VERSION
    assert document["part_number"] == "89705-50945"
    assert document["codes"] == [f"{code:08X}" for code in rom.codes]
    assert RomChip.from_image(image) == rom
    path = tmp_path / "rom.json"
    rom.save(path)
    assert path.read_bytes() == image
    assert RomChip.load(path) == rom


def _saved(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "rom.json"
    path.write_bytes(data)
    return path


def test_a_damaged_image_is_refused_naming_the_file(tmp_path: Path) -> None:
    rom, _ = _kit(2)
    image = rom.to_image().decode("ascii")
    first = f"{rom.codes[0]:08X}"
    damaged = image.replace(first, f"{rom.codes[0] ^ 1:08X}")
    path = _saved(tmp_path, damaged.encode("ascii"))
    with pytest.raises(KeylessError, match="damaged: its checksum does not match") as refused:
        RomChip.load(path)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"sha256": "0" * 64}, "checksum does not match"),
        ({"part_number": "89705-50945"}, "checksum does not match"),
    ],
)
def test_a_tampered_field_breaks_the_checksum(
    tmp_path: Path, change: dict[str, str], problem: str
) -> None:
    rom, _ = _kit(2)
    document = json.loads(rom.to_image())
    document.update(change)
    path = _saved(tmp_path, json.dumps(document).encode("ascii"))
    with pytest.raises(KeylessError, match=problem) as refused:
        RomChip.load(path)
    assert str(path) in str(refused.value)


def test_an_image_without_a_checksum_is_refused(tmp_path: Path) -> None:
    rom, _ = _kit(1)
    document = json.loads(rom.to_image())
    del document["sha256"]
    path = _saved(tmp_path, json.dumps(document).encode("ascii"))
    with pytest.raises(KeylessError, match="damaged") as refused:
        RomChip.load(path)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"magic": "SOMETHING", "version": 1}', "not an ecusim ROM image"),
        (b'{"version": 1, "codes": ["00000001"]}', "not an ecusim ROM image"),
        (b"[1, 2, 3]", "not an ecusim ROM image"),
        (b"", "is not a ROM image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is not a ROM image"),
        (b'{"magic": "ECUSIMROM", "version": 1', "is not a ROM image"),
    ],
)
def test_a_foreign_file_is_refused_naming_the_file(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    path = _saved(tmp_path, data)
    with pytest.raises(KeylessError, match=problem) as refused:
        RomChip.load(path)
    assert str(path) in str(refused.value)
    assert len(str(refused.value).splitlines()) == 1


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_an_unknown_format_version_is_refused_naming_the_file(
    tmp_path: Path, version: object
) -> None:
    rom, _ = _kit(2)
    path = _saved(tmp_path, _resealed(rom.to_image(), version=version))
    with pytest.raises(KeylessError, match="unknown ROM format version") as refused:
        RomChip.load(path)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize(
    "change",
    [{"codes": []}, {"codes": ["00000000"]}, {"codes": ["XYZ"]}, {"codes": ["1", "2", "3", "4"]}],
)
def test_a_consistent_image_with_invalid_content_is_refused(
    tmp_path: Path, change: dict[str, object]
) -> None:
    rom, _ = _kit(2)
    path = _saved(tmp_path, _resealed(rom.to_image(), **change))
    with pytest.raises(KeylessError, match="invalid ROM content") as refused:
        RomChip.load(path)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize("version", [True, 1.0])
def test_format_version_must_be_the_integer_1(tmp_path: Path, version: object) -> None:
    rom, _ = _kit(2)
    path = _saved(tmp_path, _resealed(rom.to_image(), version=version))
    with pytest.raises(KeylessError, match="unknown ROM format version"):
        RomChip.load(path)


@pytest.mark.parametrize("codes", ["ABC", {"00000001": 1}, [10]])
def test_codes_must_be_a_list_of_8_digit_hex_strings(tmp_path: Path, codes: object) -> None:
    rom, _ = _kit(2)
    path = _saved(tmp_path, _resealed(rom.to_image(), codes=codes))
    with pytest.raises(KeylessError, match="invalid ROM content"):
        RomChip.load(path)


def test_a_missing_or_unreadable_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-rom.json"
    with pytest.raises(KeylessError, match="cannot read ROM image") as refused:
        RomChip.load(missing)
    assert str(missing) in str(refused.value)
    with pytest.raises(KeylessError, match="cannot read ROM image"):
        RomChip.load(tmp_path)  # a directory


def test_save_to_an_unwritable_place_names_the_file(tmp_path: Path) -> None:
    rom, _ = _kit(1)
    target = tmp_path / "no-such-dir" / "rom.json"
    with pytest.raises(KeylessError, match="cannot write ROM image") as refused:
        rom.save(target)
    assert str(target) in str(refused.value)


# -- the programmable receiver -------------------------------------------------------------------


def _remotes(count: int, seed: int = 3) -> list[Remote]:
    rng = random.Random(seed)
    codes = rng.sample(range(1, 1 << 32), count)
    return [Remote(code) for code in codes]


def test_programmable_receiver_learns_up_to_4_codes() -> None:
    assert PROGRAMMABLE_SLOTS == 4
    remotes = _remotes(4)
    receiver = KeylessReceiver()
    assert not receiver.is_rom_type and receiver.rom is None
    assert not receiver.press(remotes[0], UNLOCK).accepted, "nothing learnt yet"
    for remote in remotes:
        receiver.learn(remote)
    assert receiver.learnt_codes == tuple(remote.code for remote in remotes)
    for remote in remotes:
        assert receiver.press(remote, LOCK).accepted


def test_the_fifth_code_drops_the_oldest() -> None:
    remotes = _remotes(6)
    receiver = KeylessReceiver(learnt=tuple(remote.code for remote in remotes[:4]))
    receiver.learn(remotes[4])
    assert receiver.learnt_codes == tuple(remote.code for remote in remotes[1:5])
    assert not receiver.press(remotes[0], UNLOCK).accepted, "the oldest was dropped"
    assert receiver.press(remotes[4], UNLOCK).accepted
    receiver.learn(remotes[5])
    assert receiver.learnt_codes == tuple(remote.code for remote in remotes[2:6])
    assert not receiver.press(remotes[1], UNLOCK).accepted


def test_learning_a_known_code_changes_nothing() -> None:
    remotes = _remotes(5)
    receiver = KeylessReceiver()
    for remote in remotes[:4]:
        receiver.learn(remote)
    receiver.learn(remotes[0])  # already known: no-op, it does not become the newest
    assert receiver.learnt_codes == tuple(remote.code for remote in remotes[:4])
    receiver.learn(remotes[4])
    assert remotes[0].code not in receiver.learnt_codes, "still the oldest, so dropped first"


def test_more_than_4_stored_codes_keep_the_newest_4() -> None:
    remotes = _remotes(5)
    receiver = KeylessReceiver(learnt=tuple(remote.code for remote in remotes))
    assert receiver.learnt_codes == tuple(remote.code for remote in remotes[1:])


# -- KeylessSetup: the receiver of one car -------------------------------------------------------

SC400_VIN = "JTHSCS1C4N5000001"
LS430_VIN = "JTHBL5EF0C5000001"


def test_1992_sc400_has_a_rom_receiver_with_its_two_remote_kit() -> None:
    model_year = Catalog.load().lookup("SC400", 1992)
    assert model_year.keyless_entry is KeylessEntry.ROM
    setup = KeylessSetup(model_year, SC400_VIN, MemoryNvm())
    rom = setup.receiver.rom
    assert rom is not None and rom.part_number == "89705-50944"  # 2 masters [S, domain.md §8]
    assert rom.codes == tuple(remote.code for remote in setup.remotes)
    for remote in setup.remotes:
        assert setup.receiver.press(remote, UNLOCK).accepted


@pytest.mark.parametrize(
    ("model", "year", "rom_type"),
    [
        ("SC300", 1992, True),
        ("SC300", 1993, True),
        ("SC400", 1993, True),
        ("SC400", 1994, False),
        ("SC300", 1994, False),
        ("LS430", 2004, False),
    ],
)
def test_receiver_type_follows_the_chart(model: str, year: int, rom_type: bool) -> None:
    model_year = Catalog.load().lookup(model, year)
    setup = KeylessSetup(model_year, LS430_VIN, MemoryNvm())
    assert setup.receiver.is_rom_type is rom_type
    assert (model_year.keyless_entry is KeylessEntry.ROM) is rom_type


def test_programmable_car_has_its_factory_remotes_learnt() -> None:
    setup = KeylessSetup(Catalog.load().lookup("LS430", 2004), LS430_VIN, MemoryNvm())
    assert len(setup.remotes) == FACTORY_REMOTES == 2
    assert setup.receiver.learnt_codes == tuple(remote.code for remote in setup.remotes)
    with pytest.raises(KeylessError, match="programmable"):
        setup.swap_rom(_kit(1)[0])


def test_factory_remotes_derive_from_the_vin() -> None:
    model_year = Catalog.load().lookup("SC400", 1992)
    first = KeylessSetup(model_year, SC400_VIN, MemoryNvm())
    again = KeylessSetup(model_year, SC400_VIN, MemoryNvm())
    other = KeylessSetup(model_year, "JTHSCS1C6N5000002", MemoryNvm())
    assert first.remotes == again.remotes
    assert first.receiver.rom == again.receiver.rom
    assert first.remotes != other.remotes


def test_swapped_rom_survives_a_restart_and_the_old_remotes_stay_useless() -> None:
    model_year = Catalog.load().lookup("SC400", 1992)
    nvm = MemoryNvm()
    setup = KeylessSetup(model_year, SC400_VIN, nvm)
    factory = setup.remotes
    new_rom, new_remotes = _kit(1, seed=8)
    setup.swap_rom(new_rom)
    assert setup.remotes == new_remotes
    with pytest.raises(LearnRefusedError):
        setup.learn(factory[0])
    restarted = KeylessSetup(model_year, SC400_VIN, nvm)
    assert restarted.receiver.rom == new_rom
    assert restarted.remotes == new_remotes
    assert restarted.receiver.press(new_remotes[0], UNLOCK).accepted
    for remote in factory:
        assert not restarted.receiver.press(remote, UNLOCK).accepted


def test_learnt_codes_survive_a_restart() -> None:
    model_year = Catalog.load().lookup("LS430", 2004)
    nvm = MemoryNvm()
    setup = KeylessSetup(model_year, LS430_VIN, nvm)
    extra = _remotes(3, seed=11)
    for remote in extra:
        setup.learn(remote)
    expected = (setup.remotes[1].code, *(remote.code for remote in extra))
    assert setup.receiver.learnt_codes == expected
    restarted = KeylessSetup(model_year, LS430_VIN, nvm)
    assert restarted.receiver.learnt_codes == expected
    assert not restarted.receiver.press(setup.remotes[0], UNLOCK).accepted


@pytest.mark.parametrize(
    "record",
    [
        {"remotes": ["00000001"], "rom": "not a ROM image"},
        {"remotes": "00000001", "rom": ""},
        {"remotes": ["00000000"], "rom": ""},
        {"remotes": []},
    ],
)
def test_an_invalid_stored_rom_record_is_refused(record: dict[str, object]) -> None:
    model_year = Catalog.load().lookup("SC400", 1992)
    nvm = MemoryNvm(record)  # type: ignore[arg-type]
    with pytest.raises(NvmCorruptError, match="keyless receiver record is invalid"):
        KeylessSetup(model_year, SC400_VIN, nvm)


@pytest.mark.parametrize(
    ("learnt", "reason"),
    [
        (["nothex"], "invalid literal"),
        (["00000000"], "non-zero 32-bit"),  # no remote sends code 0
        (["00000001", "00000001"], "listed twice"),  # learning a known code changes nothing
        ([f"0000000{n}" for n in range(1, 6)], "5 learnt codes; it holds 4"),
    ],
    ids=["not-hex", "code-0", "twice", "five"],
)
def test_an_invalid_stored_learnt_record_is_refused(learnt: list[str], reason: str) -> None:
    """Well-formed records that the receiver itself could never have written are corrupt too."""
    model_year = Catalog.load().lookup("LS430", 2004)
    record: dict[str, JsonValue] = {"remotes": ["00000001"], "learnt": list(learnt)}
    nvm = MemoryNvm(record)
    with pytest.raises(NvmCorruptError, match="keyless receiver record is invalid") as refused:
        KeylessSetup(model_year, LS430_VIN, nvm)
    assert reason in str(refused.value)
