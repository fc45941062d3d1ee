"""Injectable seed sources (diagnostic-contract.md §3)."""

from __future__ import annotations

import pytest

from protocol.errors import ConfigurationError
from protocol.seed_source import (
    DeterministicSeedSource,
    ScriptedSeedSource,
    SeedSource,
    SystemSeedSource,
)


@pytest.mark.parametrize(
    "source",
    [SystemSeedSource(), DeterministicSeedSource(1), ScriptedSeedSource([b"abcd"])],
)
def test_sources_satisfy_protocol(source: SeedSource) -> None:
    assert isinstance(source, SeedSource)
    assert len(source.random_bytes(4)) == 4


def test_system_source_lengths_and_variety() -> None:
    source = SystemSeedSource()
    seeds = {source.random_bytes(16) for _ in range(8)}
    assert all(len(seed) == 16 for seed in seeds)
    assert len(seeds) == 8  # 2**-128 collision odds


def test_deterministic_source_is_reproducible() -> None:
    first = DeterministicSeedSource(42)
    second = DeterministicSeedSource(42)
    run_1 = [first.random_bytes(4), first.random_bytes(16)]
    run_2 = [second.random_bytes(4), second.random_bytes(16)]
    assert run_1 == run_2
    assert [len(seed) for seed in run_1] == [4, 16]
    assert DeterministicSeedSource(43).random_bytes(16) != run_1[1]


def test_scripted_source_in_order_then_exhausted() -> None:
    source = ScriptedSeedSource(iter([b"\x01\x02\x03\x04", bytes(range(16))]))
    assert source.remaining == 2
    assert source.random_bytes(4) == b"\x01\x02\x03\x04"
    assert source.random_bytes(16) == bytes(range(16))
    assert source.remaining == 0
    with pytest.raises(ConfigurationError, match="exhausted after 2 seeds"):
        source.random_bytes(4)


def test_scripted_source_length_mismatch() -> None:
    source = ScriptedSeedSource([b"\x01\x02\x03\x04"])
    with pytest.raises(ConfigurationError, match="seed #1 is 4 bytes, but 16 were requested"):
        source.random_bytes(16)


def test_scripted_source_rejects_bad_script() -> None:
    with pytest.raises(ConfigurationError, match="seed #2"):
        ScriptedSeedSource([b"\x01", b""])
    with pytest.raises(ConfigurationError, match="seed #1"):
        ScriptedSeedSource(["0102"])  # type: ignore[list-item]


@pytest.mark.parametrize("length", [0, -1, True])
def test_bad_length_is_refused(length: int) -> None:
    for source in (SystemSeedSource(), DeterministicSeedSource(0), ScriptedSeedSource([b"x"])):
        with pytest.raises(ConfigurationError, match="seed length"):
            source.random_bytes(length)
