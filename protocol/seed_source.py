"""Injectable sources of SecurityAccess seeds (diagnostic-contract.md §3).

The CSPRNG is the default; the deterministic and scripted sources are for tests and demos. A
source returns raw bytes only: the SecurityAccess handler, not the source, guarantees that a
locked level never hands out an all-zero seed.
"""

from __future__ import annotations

import collections
import random
import secrets
import threading
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from protocol.errors import ConfigurationError

__all__ = [
    "DeterministicSeedSource",
    "ScriptedSeedSource",
    "SeedSource",
    "SystemSeedSource",
]


@runtime_checkable
class SeedSource(Protocol):
    """Supplies seed bytes for requestSeed (ISO 14229-1 §10.4)."""

    def random_bytes(self, length: int) -> bytes:
        """Return ``length`` (≥ 1) bytes."""
        ...


def _check_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ConfigurationError(f"seed length must be an int ≥ 1, got {length!r}")


class SystemSeedSource:
    """The operating system's CSPRNG (``secrets.token_bytes``): the default."""

    def random_bytes(self, length: int) -> bytes:
        _check_length(length)
        return secrets.token_bytes(length)


class DeterministicSeedSource:
    """Reproducible pseudo-random seeds from ``random.Random(seed)``. NOT secure: tests only."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def random_bytes(self, length: int) -> bytes:
        _check_length(length)
        with self._lock:
            return self._random.randbytes(length)


class ScriptedSeedSource:
    """Returns the given seeds in order, for byte-exact tests.

    Raises :class:`ConfigurationError` when the script is exhausted or the next seed's length
    differs from the requested one (the mismatching seed is consumed).
    """

    def __init__(self, seeds: Iterable[bytes]) -> None:
        self._seeds: collections.deque[bytes] = collections.deque()
        for index, seed in enumerate(seeds, start=1):
            if not isinstance(seed, bytes) or not seed:
                raise ConfigurationError(f"scripted seed #{index} must be non-empty bytes")
            self._seeds.append(seed)
        self._served = 0
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        """Seeds not handed out yet."""
        with self._lock:
            return len(self._seeds)

    def random_bytes(self, length: int) -> bytes:
        _check_length(length)
        with self._lock:
            if not self._seeds:
                raise ConfigurationError(
                    f"scripted seed source exhausted after {self._served} seeds"
                )
            seed = self._seeds.popleft()
            self._served += 1
            if len(seed) != length:
                raise ConfigurationError(
                    f"scripted seed #{self._served} is {len(seed)} bytes, "
                    f"but {length} were requested"
                )
            return seed
