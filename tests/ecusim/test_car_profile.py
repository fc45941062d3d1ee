"""Car profiles (docs/car-profiles.md): ``ecusim models --export`` round trip, what a profile
changes on the built car, and the one-line errors of a malformed profile (``ecusim run --car``
exits 2 naming the key, never a traceback)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest

from ecusim.car.car_profile import profile_of
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import Catalog, SystemType
from ecusim.catalog.profile import ProfileError, load_profile, parse_profile
from ecusim.cli.main import main

ONE_PER_SYSTEM = {
    SystemType.NONE: ("SC400", 1992),
    SystemType.ECM_INTEGRATED: ("LS400", 1997),
    SystemType.TRANSPONDER_KEY_ECU: ("LS430", 2004),
    SystemType.SMART_KEY: ("LS460", 2012),
}


def _export(model: str, year: int, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["models", "--export", model, str(year)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


@pytest.mark.parametrize("system", list(ONE_PER_SYSTEM), ids=lambda s: s.value)
def test_an_exported_entry_reads_back_as_the_catalog_entry(
    system: SystemType, capsys: pytest.CaptureFixture[str]
) -> None:
    model, year = ONE_PER_SYSTEM[system]
    entry = Catalog.load().lookup(model, year)
    assert entry.system_type is system
    text = _export(model, year, capsys)
    profile = parse_profile(text, origin="my-car.toml")
    # Everything but the basis (a profile's values are the file's own) is the chart's.
    assert dataclasses.replace(profile.model_year, basis=entry.basis) == entry
    assert {ecu.address for ecu in profile.ecus.values()} == {
        node for node in (entry.addresses.ecm, entry.addresses.immobilizer) if node is not None
    }
    car = Vehicle.from_profile(profile)  # run-able: the same car, exported again identically
    assert profile_of(car.model_year, car.ecus).to_toml() == text
    assert [ecu.addressing for ecu in car.ecus] == [
        ecu.addressing for ecu in Vehicle.from_catalog(model, year).ecus
    ]


def test_the_export_names_the_simulators_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = _export("LS460", 2012, capsys)
    immobilizer = parse_profile(text).ecus["immobilizer"]
    assert immobilizer.address.extended_address == 0xB5
    assert immobilizer.padding == 0xCC  # diagnostic-contract.md §1
    assert (immobilizer.p2_ms, immobilizer.p2_star_ms) == (50, 5000)
    assert dict(immobilizer.security) == {0x01: "lab-diagnostic", 0x11: "lab-passcode"}


def test_a_profile_sets_padding_timing_algorithm_and_dids(tmp_path: Path) -> None:
    text = (
        _EXAMPLE.replace('p2_ms = 50\n', "p2_ms = 120\np2_star_ms = 2000\n", 1)
        .replace('0x01 = "lab-diagnostic"', '0x01 = "weak-xor"', 1)
    )  # fmt: skip
    path = tmp_path / "my-car.toml"
    path.write_text(text, encoding="utf-8")
    car = Vehicle.from_profile(path)
    engine = car.engine
    assert engine.isotp_parameters.padding == 0x00
    assert engine.isotp_parameters.st_min_s == pytest.approx(0.005)
    assert engine.isotp_parameters.block_size == 8
    timing = engine.server.config.timing
    assert timing.p2_s == pytest.approx(0.12)
    assert timing.p2_star_s == pytest.approx(2.0)
    assert timing.pending_repeat_s < timing.p2_star_s  # 0x78 repeats within the new P2*
    assert engine.server.security.levels[0x01].algorithm.name == "weak-xor"
    assert engine.server.dids[0xF1A0].read is not None
    assert engine.server.dids[0xF1A0].read() == bytes.fromhex("0102AB")
    certification = car.certification
    assert certification is not None
    assert certification.addressing.request_id == 0x740
    assert certification.addressing.extended_address == 0x47
    assert certification.isotp_parameters.padding == 0x00
    assert certification.server.security.levels[0x11].algorithm.name == "lab-passcode"


_EXAMPLE = """\
format = "ecusim-car-profile"
version = 1
model = "LS460"
year = 2012
system_type = "smart_key"
reset_supported = true
keyless_entry = "programmable"
waiting_period_s = 960

[key_limits]
smart_keys = 7

[factory_keys]
masters = 0
subs = 0
smart_keys = 2

[ecus.ecm]
request = "0x7E0"
response = "0x7E8"
functional = "0x7DF"
padding = 0x00
st_min_ms = 5
block_size = 8
p2_ms = 50

[ecus.ecm.security]
0x01 = "lab-diagnostic"

[ecus.ecm.dids]
0xF1A0 = "0102AB"

[ecus.immobilizer]
request = "0x740"
response = "0x748"
extended_address = "0x47"
padding = 0x00
"""


def _bad(old: str, new: str) -> str:
    assert old in _EXAMPLE, old
    return _EXAMPLE.replace(old, new, 1)


MALFORMED = [
    pytest.param(
        _bad(
            'extended_address = "0x47"\npadding = 0x00', 'extended_address = "0x47"\npadding = 300'
        ),
        "my-car.toml: ecus.immobilizer.padding: must be a byte 0x00..0xFF, got 300",
        id="padding-out-of-range",
    ),
    pytest.param(
        _bad("version = 1\n", 'version = 1\ncolour = "red"\n'),
        "my-car.toml: top level: unknown field(s) ['colour']",
        id="unknown-key",
    ),
    pytest.param(
        _bad("block_size = 8", "blocksize = 8"),
        "my-car.toml: ecus.ecm: unknown field(s) ['blocksize']",
        id="unknown-ecu-key",
    ),
    pytest.param(
        _bad("year = 2012", 'year = "2012"'),
        "my-car.toml: year: must be an integer, got '2012'",
        id="wrong-type",
    ),
    pytest.param(
        _bad('0xF1A0 = "0102AB"', '0xF1A0 = "01 02 AB"'),
        "my-car.toml: ecus.ecm.dids.0xF1A0: must be the value's bytes in hex, an even number "
        "of digits, e.g. '0102AB'; got '01 02 AB'",
        id="bad-hex-value",
    ),
    pytest.param(
        _bad('request = "0x740"', 'request = "0x74G"'),
        "my-car.toml: ecus.immobilizer.request: must be an 11-bit CAN ID like '0x000', got '0x74G'",
        id="bad-hex-address",
    ),
    pytest.param(
        _bad('0x01 = "lab-diagnostic"', '0x01 = "rot13"'),
        "my-car.toml: ecus.ecm.security.0x01: must be one of lab-diagnostic, lab-passcode, "
        "weak-xor; got 'rot13'",
        id="unknown-algorithm",
    ),
    pytest.param(
        _bad('0x01 = "lab-diagnostic"', '0x02 = "lab-diagnostic"'),
        "my-car.toml: ecus.ecm.security.0x02: must be an odd requestSeed level 0x01..0x7D, "
        "got '0x02'",
        id="even-level",
    ),
    pytest.param(
        _bad(
            'request = "0x740"\nresponse = "0x748"\nextended_address = "0x47"',
            'request = "0x740"\nresponse = "0x7E8"',
        ),
        "my-car.toml: ecus.immobilizer.response: response ID 0x7E8 is also the response ID of "
        "ecus.ecm (0x7E0 -> 0x7E8, functional 0x7DF): each request and response ID belongs "
        "to one node (shared only with different extended addresses) and a functional ID is "
        "no node's physical ID",
        id="duplicate-address",
    ),
    pytest.param(
        _bad('functional = "0x7DF"', 'functional = "0x740"'),
        "my-car.toml: ecus.immobilizer.request: request ID 0x740 is also the functional ID of "
        "ecus.ecm: each request and response ID belongs to one node (shared only with "
        "different extended addresses) and a functional ID is no node's physical ID",
        id="functional-is-another-nodes-request",
    ),
    pytest.param(
        _bad("st_min_ms = 5", "st_min_ms = 200"),
        "my-car.toml: ecus.ecm.st_min_ms: must be 0..127 ms (or 0.1..0.9 for 100..900 µs), got 200",
        id="stmin-out-of-range",
    ),
    pytest.param(
        _bad("waiting_period_s = 960\n", ""),
        "my-car.toml: waiting_period_s: must be > 0 for smart_key and 0 otherwise; got 0 for "
        "smart_key",
        id="chart-rule",
    ),
    pytest.param(
        _bad("[ecus.immobilizer]\n", "[ecus.immobilizer]\n[ecus.immobilizer]\n"),
        None,  # tomllib's own words, after the file's name
        id="not-toml",
    ),
    pytest.param(
        _bad("smart_keys = 2", "smart_keys = 9"),
        "my-car.toml: factory_keys.smart_keys: 9 is more than key_limits.smart_keys (7)",
        id="more-factory-keys-than-the-limit",
    ),
    pytest.param(
        _bad("[key_limits]\nsmart_keys = 7", "[key_limits]\nsmart_keys = 100000000"),
        "my-car.toml: key_limits.smart_keys: must be 1..15 (a 4-bit signal), got 100000000",
        id="smart-key-limit-out-of-range",
    ),
    pytest.param(
        _bad("waiting_period_s = 960", "waiting_period_s = inf"),
        "my-car.toml: waiting_period_s: must be a number of seconds 0..65535 (it is sent in 2 "
        "bytes), got inf",
        id="waiting-period-infinite",
    ),
    pytest.param(
        _bad("waiting_period_s = 960", "waiting_period_s = 1e300"),
        "my-car.toml: waiting_period_s: must be a number of seconds 0..65535 (it is sent in 2 "
        "bytes), got 1e+300",
        id="waiting-period-too-long",
    ),
    pytest.param(
        _bad("year = 2012", "year = 99999999999"),
        "my-car.toml: year: must be 1980..2039, got 99999999999",
        id="year-out-of-range",
    ),
    pytest.param(
        _bad('model = "LS460"', 'model = "\\u0000\\n\\u001b[31mX"'),
        "my-car.toml: model: must be up to 40 letters, digits, spaces, '-', '_' or '/' "
        "starting with a letter or digit, got '\\x00\\n\\x1b[31mX'",
        id="control-characters-in-the-model",
    ),
    pytest.param(
        _bad('0xF1A0 = "0102AB"', '"\\u001b[2J" = "0102AB"'),
        "my-car.toml: ecus.ecm.dids.'\\x1b[2J': must be a DID like '0x0000', got '\\x1b[2J'",
        id="control-characters-in-a-key",
    ),
    pytest.param(
        _bad('0xF1A0 = "0102AB"', '0xF1A0 = "' + "AB" * 4093 + '"'),
        "my-car.toml: ecus.ecm.dids.0xF1A0: 4093 bytes do not fit one response (at most "
        "4092: 4095 bytes of an ISO-TP message minus 62 and the DID)",
        id="did-value-too-long",
    ),
    # Found when the profile meets the built car: still one line naming the key.
    pytest.param(
        _bad('0x01 = "lab-diagnostic"', '0x01 = "lab-diagnostic"\n0x11 = "lab-passcode"'),
        "my-car.toml: ecus.ecm.security.0x11: the engine has no level 0x11 (it has 0x01)",
        id="level-the-node-lacks",
    ),
    pytest.param(
        _bad('0xF1A0 = "0102AB"', '0xF190 = "0102AB"'),
        "my-car.toml: ecus.ecm.dids.0xF190: the engine already has DID 0xF190 (VIN); extra "
        "DIDs must be new",
        id="did-the-node-has",
    ),
]


@pytest.mark.parametrize(("text", "line"), MALFORMED)
def test_a_malformed_profile_is_one_line_naming_the_key(
    text: str, line: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "my-car.toml"
    path.write_text(text, encoding="utf-8")
    channel = f"ecusim-profile-{uuid.uuid4().hex}"
    argv = ["run", "--car", str(path), "-i", "virtual", "-c", channel, "--ephemeral"]
    assert main([*argv, "--duration", "0.1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err  # one line, no traceback
    if line is None:
        assert captured.err.startswith("ecusim: error: my-car.toml: not valid TOML (")
    else:
        assert captured.err == f"ecusim: error: {line}\n"


def test_library_errors_are_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ProfileError, match=r"missing\.toml: cannot read the car profile: No such file"
    ):
        load_profile(tmp_path / "missing.toml")
    with pytest.raises(ProfileError, match=r"^car profile: ecus: missing$"):
        parse_profile(_EXAMPLE.split("[ecus.ecm]", maxsplit=1)[0])


def test_car_and_model_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "my-car.toml"
    path.write_text(_EXAMPLE, encoding="utf-8")
    argv = ["run", "--car", str(path), "--year", "2012", "-i", "virtual", "-c", "x"]
    assert main([*argv, "--duration", "0.1"]) == 2
    assert "--car: the profile names the model and year" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "year", "keys", "line"),
    [
        pytest.param(
            "LS430",
            2004,
            "masters = 6\nsubs = 1",
            "factory_keys.masters: 6 is more than key_limits.additional.masters (5)",
            id="transponder-masters",
        ),
        pytest.param(
            "LS400",
            1997,
            "masters = 2\nsubs = 2",
            "factory_keys: 2 masters + 2 subs is more than key_limits.ecm_codes (3)",
            id="ecm-codes-in-all",
        ),
    ],
)
def test_factory_keys_fit_the_key_memory(
    model: str, year: int, keys: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _export(model, year, capsys).replace(
        "masters = 2\nsubs = 1\nsmart_keys = 0", keys + "\nsmart_keys = 0"
    )
    assert keys in text
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, origin="my-car.toml")
    assert str(caught.value) == f"my-car.toml: {line}"
