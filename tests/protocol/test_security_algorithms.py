"""Pluggable SecurityAccess algorithms and their registry (diagnostic-contract.md §3)."""

from __future__ import annotations

from importlib import metadata

import pytest

from protocol.errors import CodeFormatError, ConfigurationError, UnknownAlgorithmError
from protocol.passcode import DEFAULT_MASTER_SECRET, parse_code
from protocol.security_algorithms import (
    ENTRY_POINT_GROUP,
    AlgorithmContext,
    AlgorithmRegistry,
    LabDiagnosticAlgorithm,
    LabPassCodeAlgorithm,
    SecurityAlgorithm,
    XorAlgorithm,
    default_registry,
)

VIN_1 = "JTHBL5EF0C5000001"


def test_default_registry_names() -> None:
    assert default_registry().names() == ("lab-diagnostic", "lab-passcode", "weak-xor")


def test_default_registry_is_fresh_each_time() -> None:
    first = default_registry()
    first.register("extra", LabDiagnosticAlgorithm.from_context)
    assert "extra" in first
    assert "extra" not in default_registry()


def test_lab_diagnostic_known_answers() -> None:
    algorithm = default_registry().create("lab-diagnostic", AlgorithmContext())
    assert isinstance(algorithm, SecurityAlgorithm)
    assert (algorithm.name, algorithm.seed_length, algorithm.key_length) == (
        "lab-diagnostic",
        4,
        4,
    )
    assert algorithm.compute_key(bytes.fromhex("01020304")) == bytes.fromhex("354A1764")
    assert algorithm.compute_key(bytes.fromhex("DEADBEEF")) == bytes.fromhex("1501E64D")
    assert algorithm.verify(bytes.fromhex("DEADBEEF"), bytes.fromhex("1501E64D"))
    assert not algorithm.verify(bytes.fromhex("DEADBEEF"), bytes.fromhex("1501E64E"))
    assert not algorithm.verify(bytes.fromhex("DEADBEEF"), bytes.fromhex("1501E6"))


def test_lab_diagnostic_uses_context_diag_key() -> None:
    algorithm = default_registry().create("lab-diagnostic", AlgorithmContext(diag_key=b"other"))
    assert algorithm.compute_key(bytes.fromhex("01020304")) != bytes.fromhex("354A1764")


def test_lab_passcode_known_answers() -> None:
    registry = default_registry()
    algorithm = registry.create("lab-passcode", AlgorithmContext(vin=VIN_1))
    assert isinstance(algorithm, SecurityAlgorithm)
    assert (algorithm.name, algorithm.seed_length, algorithm.key_length) == (
        "lab-passcode",
        16,
        16,
    )
    seed = parse_code("00010203-04050607-08090A0B-0C0D0E0F")
    code = parse_code("68048306-E57DF5FB-1D818A1B-527791CD")
    assert algorithm.compute_key(seed) == code
    assert algorithm.verify(seed, code)
    assert not algorithm.verify(seed, code[:-1] + bytes([code[-1] ^ 1]))
    assert not algorithm.verify(seed, code[:15])
    other_vin = registry.create("lab-passcode", AlgorithmContext(vin="JTHBA1D29G5000002"))
    assert other_vin.compute_key(seed) == parse_code("68C88FBD-B7B00C85-B4D10C5E-D3457278")


def test_lab_passcode_needs_vin() -> None:
    with pytest.raises(ConfigurationError, match="needs the ECU's VIN"):
        default_registry().create("lab-passcode", AlgorithmContext())


def test_lab_passcode_rejects_malformed_vin_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="VIN must be 17 characters, got 3"):
        LabPassCodeAlgorithm("JTH")


def test_lab_passcode_uses_context_master_secret() -> None:
    seed = bytes(16)
    default = LabPassCodeAlgorithm(VIN_1, DEFAULT_MASTER_SECRET).compute_key(seed)
    other = default_registry().create(
        "lab-passcode", AlgorithmContext(vin=VIN_1, master_secret=b"x")
    )
    assert other.compute_key(seed) != default


@pytest.mark.parametrize("name", ["lab-diagnostic", "lab-passcode", "weak-xor"])
def test_wrong_seed_length_is_an_error(name: str) -> None:
    algorithm = default_registry().create(name, AlgorithmContext(vin=VIN_1))
    with pytest.raises(CodeFormatError, match=rf"{name}: seed must be"):
        algorithm.compute_key(bytes(algorithm.seed_length + 1))


def test_weak_xor_default_and_custom_mask() -> None:
    algorithm = default_registry().create("weak-xor")
    assert (algorithm.seed_length, algorithm.key_length) == (4, 4)
    assert algorithm.compute_key(bytes.fromhex("01020304")) == bytes.fromhex("A4A7A6A1")
    assert algorithm.verify(bytes.fromhex("00000000"), bytes.fromhex("A5A5A5A5"))
    custom = XorAlgorithm(b"\xff\x00")
    assert (custom.seed_length, custom.key_length) == (2, 2)
    assert custom.compute_key(b"\x0f\x0f") == b"\xf0\x0f"
    with pytest.raises(ConfigurationError):
        XorAlgorithm(b"")


def test_secrets_not_in_repr() -> None:
    assert DEFAULT_MASTER_SECRET.hex() not in repr(AlgorithmContext(vin=VIN_1))
    assert repr(DEFAULT_MASTER_SECRET) not in repr(AlgorithmContext(vin=VIN_1))
    assert "diag_key" not in repr(LabDiagnosticAlgorithm())
    assert "master_secret" not in repr(LabPassCodeAlgorithm(VIN_1))


def test_register_duplicate_needs_replace() -> None:
    registry = default_registry()
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register("weak-xor", LabDiagnosticAlgorithm.from_context)
    registry.register("weak-xor", LabDiagnosticAlgorithm.from_context, replace=True)
    assert registry.create("weak-xor").name == "lab-diagnostic"


def test_register_custom_algorithm() -> None:
    registry = AlgorithmRegistry()
    assert registry.names() == ()
    registry.register("xor-ff", lambda _context: XorAlgorithm(b"\xff" * 4))
    assert registry.create("xor-ff").compute_key(b"\x00\x01\x02\x03") == b"\xff\xfe\xfd\xfc"


@pytest.mark.parametrize("name", ["", " padded", 3])
def test_register_rejects_bad_names(name: object) -> None:
    with pytest.raises(ConfigurationError):
        AlgorithmRegistry().register(name, LabDiagnosticAlgorithm.from_context)  # type: ignore[arg-type]


def test_register_rejects_non_callable() -> None:
    with pytest.raises(ConfigurationError, match="not callable"):
        AlgorithmRegistry().register("x", "not a factory")  # type: ignore[arg-type]


def test_unknown_algorithm_lists_known_names() -> None:
    with pytest.raises(UnknownAlgorithmError, match="lab-diagnostic, lab-passcode, weak-xor"):
        default_registry().create("seed-plus-one")
    with pytest.raises(KeyError):
        default_registry().create("seed-plus-one")
    with pytest.raises(UnknownAlgorithmError, match="known: none"):
        AlgorithmRegistry().create("x")


def test_factory_returning_non_algorithm_is_refused() -> None:
    registry = AlgorithmRegistry()
    registry.register("bad", lambda _context: object())  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="not a SecurityAlgorithm"):
        registry.create("bad")


def _fake_entry_points(
    monkeypatch: pytest.MonkeyPatch, entry_points: list[metadata.EntryPoint]
) -> list[str]:
    groups: list[str] = []

    def fake(*, group: str) -> list[metadata.EntryPoint]:
        groups.append(group)
        return [ep for ep in entry_points if ep.group == group]

    monkeypatch.setattr(metadata, "entry_points", fake)
    return groups


def test_load_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = _fake_entry_points(
        monkeypatch,
        [
            metadata.EntryPoint(
                name="plugin-xor",
                value="protocol.security_algorithms:XorAlgorithm.from_context",
                group=ENTRY_POINT_GROUP,
            ),
            metadata.EntryPoint(
                name="elsewhere",
                value="protocol.security_algorithms:XorAlgorithm.from_context",
                group="another.group",
            ),
        ],
    )
    registry = default_registry()
    assert registry.load_entry_points() == ("plugin-xor",)
    assert groups == [ENTRY_POINT_GROUP]
    assert "plugin-xor" in registry
    assert "elsewhere" not in registry
    assert registry.create("plugin-xor").name == "weak-xor"


def test_load_entry_points_duplicate_and_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(
        monkeypatch,
        [
            metadata.EntryPoint(
                name="weak-xor",
                value="protocol.security_algorithms:XorAlgorithm.from_context",
                group=ENTRY_POINT_GROUP,
            )
        ],
    )
    registry = default_registry()
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.load_entry_points()
    assert registry.load_entry_points(replace=True) == ("weak-xor",)

    _fake_entry_points(
        monkeypatch,
        [
            metadata.EntryPoint(
                name="missing",
                value="no_such_module_for_ecusim_tests:factory",
                group=ENTRY_POINT_GROUP,
            )
        ],
    )
    with pytest.raises(ConfigurationError, match=r"cannot load .*'missing'"):
        registry.load_entry_points()


def test_load_entry_points_real_metadata_group_is_empty() -> None:
    assert AlgorithmRegistry().load_entry_points("ecusim.tests.no-such-group") == ()
