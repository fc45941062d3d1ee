"""Key memory records that carry a valid checksum but that the ECU could never have written:
more keys than it holds, a kind it does not register, a key stored as another blank's kind.
They are refused as corrupt, naming the record; a record at the limits loads. And every kind of
car in the support chart reopens the state it was manufactured with."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ecusim.car.keys import Key, KeyKind
from ecusim.car.physical import PhysicalState
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import Catalog, ModelYear
from ecusim.catalog.vin import lab_vin
from ecusim.ecus.certification.config import CertificationConfig
from ecusim.ecus.certification.ecu import CertificationEcu
from ecusim.ecus.immobilizer.config import EcmIntegratedConfig, ImmobilizerConfig
from ecusim.ecus.immobilizer.ecm_integrated import EcmIntegratedImmobilizer
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from protocol.errors import NvmCorruptError
from protocol.nvm import FileNvm, JsonValue, MemoryNvm

VIN = lab_vin("LS430", 2004)


def _record(kind: KeyKind, count: int, *, stored_as: KeyKind | None = None) -> list[JsonValue]:
    """``count`` keys of blank ``kind`` as the key record lists them (``stored_as``: the kind
    written in the record, if not the blank's)."""
    keys = [Key.derived(kind, f"limit-{kind}-{stored_as}-{n}") for n in range(count)]
    return [
        {"id": f"{key.transponder_id:08X}", "kind": (stored_as or kind).value, "secret": "00" * 16}
        for key in keys
    ]


def _immobilizer(keys: list[JsonValue], *, ecm_integrated: bool = False) -> TransponderKeyEcu:
    nvm = MemoryNvm(
        {
            "keys": {"keys": keys, "automatic_registration": False},
            "ecm_link": {"communication_id": 1},
        }
    )
    ecu_type: type[TransponderKeyEcu]
    config: ImmobilizerConfig
    if ecm_integrated:
        ecu_type, config = EcmIntegratedImmobilizer, EcmIntegratedConfig(vin=VIN)
    else:
        ecu_type, config = TransponderKeyEcu, ImmobilizerConfig(vin=VIN)
    return ecu_type(
        config,
        physical=PhysicalState(),
        lock=threading.RLock(),
        communication_id=1,
        nvm=nvm,
    )


def _certification(keys: list[JsonValue]) -> CertificationEcu:
    nvm = MemoryNvm({"keys": {"keys": keys, "automatic_registration": False}})
    return CertificationEcu(
        CertificationConfig(vin=VIN), physical=PhysicalState(), lock=threading.RLock(), nvm=nvm
    )


def test_a_transponder_ecu_at_its_limits_loads() -> None:
    # Additional registration's limits: 5 masters + 3 subs (domain.md [S]).
    ecu = _immobilizer(_record(KeyKind.MASTER, 5) + _record(KeyKind.SUB, 3))
    assert (ecu.keys.count(KeyKind.MASTER), ecu.keys.count(KeyKind.SUB)) == (5, 3)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (_record(KeyKind.MASTER, 6), "6 master key(s), and this ECU holds at most 5"),
        (_record(KeyKind.SUB, 4), "4 sub key(s), and this ECU holds at most 3"),
        (_record(KeyKind.SMART, 1), "1 smart key(s), and this ECU holds none"),
        (
            _record(KeyKind.SMART, 1, stored_as=KeyKind.MASTER),
            "key record #0: {id} is a smart key, stored as master",
        ),
    ],
    ids=["six-masters", "four-subs", "smart-record", "smart-blank-as-master"],
)
def test_an_impossible_transponder_key_record_is_corrupt(
    keys: list[JsonValue], message: str
) -> None:
    first = keys[0]
    assert isinstance(first, dict)
    with pytest.raises(NvmCorruptError) as refused:
        _immobilizer(keys)
    assert message.format(id=first["id"]) in str(refused.value)
    assert "'keys'" in str(refused.value)  # the section is named


def test_an_ecm_integrated_immobilizer_holds_its_codes_in_all() -> None:
    # ECM-integrated: at most 3 codes, the last one a sub key, whatever the blank [S].
    full = _record(KeyKind.MASTER, 2) + _record(KeyKind.MASTER, 1, stored_as=KeyKind.SUB)
    assert len(_immobilizer(full, ecm_integrated=True).keys.all()) == 3
    with pytest.raises(NvmCorruptError, match=r"4 keys, and this ECU holds at most 3"):
        _immobilizer(_record(KeyKind.MASTER, 2) + _record(KeyKind.SUB, 2), ecm_integrated=True)


def test_too_many_factory_keys_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    """An ECM-integrated immobilizer holds 3 codes: a fourth factory key is a programming error
    of the caller, refused before the ECU writes its NVM (a half-manufactured ECU would be
    refused as corrupt at the next start)."""
    path = tmp_path / "engine.nvm.json"
    factory = [Key.derived(KeyKind.MASTER, f"m{n}") for n in range(2)] + [
        Key.derived(KeyKind.SUB, f"s{n}") for n in range(2)
    ]
    with pytest.raises(ValueError, match=r"cannot store the keys: 4 keys, .* at most 3"):
        EcmIntegratedImmobilizer(
            EcmIntegratedConfig(vin=VIN),
            physical=PhysicalState(),
            lock=threading.RLock(),
            communication_id=1,
            factory_keys=factory,
            nvm=FileNvm(path, kind="engine"),
        )
    assert not path.exists()


def test_a_smart_key_ecu_holds_its_limit_of_smart_keys() -> None:
    assert _certification(_record(KeyKind.SMART, 7)).key_count == 7  # domain.md [S]: 7
    with pytest.raises(NvmCorruptError, match=r"8 smart key\(s\), and this ECU holds at most 7"):
        _certification(_record(KeyKind.SMART, 8))


def _one_car_of_each_kind() -> list[ModelYear]:
    kinds: dict[object, ModelYear] = {}
    for entry in Catalog.load():
        kinds.setdefault(
            (entry.system_type, entry.factory_keys, entry.key_limits, entry.keyless_entry), entry
        )
    return list(kinds.values())


@pytest.mark.parametrize("entry", _one_car_of_each_kind(), ids=lambda entry: entry.name)
def test_every_kind_of_car_reopens_its_factory_state(entry: ModelYear, tmp_path: Path) -> None:
    first = Vehicle.from_catalog(entry.model, entry.year, state_dir=tmp_path)
    again = Vehicle.from_catalog(entry.model, entry.year, state_dir=tmp_path)
    assert again.factory_keys == first.factory_keys
    assert [remote.code for remote in again.remotes] == [remote.code for remote in first.remotes]
