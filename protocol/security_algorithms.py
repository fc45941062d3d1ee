"""Pluggable SecurityAccess seed→key algorithms (diagnostic-contract.md §3, ISO 14229-1 §10.4).

An algorithm only maps a seed to a key. Protocol policy (odd/even pairing, zero seeds, attempt
counters, 0x36/0x37, 0x24) stays in the SecurityAccess handler. Algorithms are looked up by name
in an explicit :class:`AlgorithmRegistry`, optionally extended through the
``ecusim.security_algorithms`` entry-point group; subclasses are never discovered by walking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import ClassVar, Protocol, runtime_checkable

from protocol.errors import CodeFormatError, ConfigurationError, UnknownAlgorithmError
from protocol.passcode import (
    DEFAULT_DIAG_KEY,
    DEFAULT_MASTER_SECRET,
    DIAGNOSTIC_KEY_LENGTH,
    PASS_CODE_LENGTH,
    SEED_NUMBER_LENGTH,
    constant_time_equal,
    diagnostic_key,
    pass_code,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "WEAK_XOR_DEFAULT_MASK",
    "AlgorithmContext",
    "AlgorithmFactory",
    "AlgorithmRegistry",
    "LabDiagnosticAlgorithm",
    "LabPassCodeAlgorithm",
    "SecurityAlgorithm",
    "XorAlgorithm",
    "default_registry",
]

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ecusim.security_algorithms"
"""Entry-point group whose objects are :data:`AlgorithmFactory` callables."""

WEAK_XOR_DEFAULT_MASK = bytes.fromhex("A5A5A5A5")
"""Mask of the ``weak-xor`` algorithm in :func:`default_registry`."""


@dataclass(frozen=True)
class AlgorithmContext:
    """What an ECU hands an algorithm factory: its VIN and the configured secrets.

    The secrets are left out of ``repr`` so they never end up in logs.
    """

    vin: str | None = None
    master_secret: bytes = field(default=DEFAULT_MASTER_SECRET, repr=False)
    diag_key: bytes = field(default=DEFAULT_DIAG_KEY, repr=False)


@runtime_checkable
class SecurityAlgorithm(Protocol):
    """A seed→key algorithm for one SecurityAccess level (diagnostic-contract.md §3).

    ``seed_length`` is what requestSeed returns; ``key_length`` is what sendKey must carry (the
    handler answers 0x13 for any other length before calling :meth:`verify`).
    """

    @property
    def name(self) -> str:
        """Registry name, e.g. ``"lab-diagnostic"``."""
        ...

    @property
    def seed_length(self) -> int:
        """Seed length in bytes."""
        ...

    @property
    def key_length(self) -> int:
        """Key length in bytes."""
        ...

    def compute_key(self, seed: bytes) -> bytes:
        """Return the key a tester must send for ``seed``."""
        ...

    def verify(self, seed: bytes, key: bytes) -> bool:
        """Return whether ``key`` is right for ``seed`` (in constant time)."""
        ...


AlgorithmFactory = Callable[[AlgorithmContext], SecurityAlgorithm]
"""Builds an algorithm for one ECU from its :class:`AlgorithmContext`."""


def _check_seed(seed: bytes, expected: int, name: str) -> None:
    if not isinstance(seed, bytes) or len(seed) != expected:
        got = f"{len(seed)} bytes" if isinstance(seed, bytes) else type(seed).__name__
        raise CodeFormatError(f"{name}: seed must be {expected} bytes, got {got}")


def _verify(algorithm: SecurityAlgorithm, seed: bytes, key: bytes) -> bool:
    expected = algorithm.compute_key(seed)
    return len(key) == len(expected) and constant_time_equal(expected, bytes(key))


@dataclass(frozen=True)
class LabDiagnosticAlgorithm:
    """Level 0x01/0x02: 4-byte seed, key = HMAC-SHA256(K_diag, seed)[:4]
    (diagnostic-contract.md §5)."""

    diag_key: bytes = field(default=DEFAULT_DIAG_KEY, repr=False)

    name: ClassVar[str] = "lab-diagnostic"
    seed_length: ClassVar[int] = 4
    key_length: ClassVar[int] = DIAGNOSTIC_KEY_LENGTH

    def __post_init__(self) -> None:
        if not isinstance(self.diag_key, bytes) or not self.diag_key:
            raise ConfigurationError("lab-diagnostic: diagnostic key must be non-empty bytes")

    @classmethod
    def from_context(cls, context: AlgorithmContext) -> LabDiagnosticAlgorithm:
        """Factory for the registry: uses ``context.diag_key``."""
        return cls(context.diag_key)

    def compute_key(self, seed: bytes) -> bytes:
        _check_seed(seed, self.seed_length, self.name)
        return diagnostic_key(seed, self.diag_key)

    def verify(self, seed: bytes, key: bytes) -> bool:
        return _verify(self, seed, key)


@dataclass(frozen=True)
class LabPassCodeAlgorithm:
    """Level 0x11/0x12: the 16-byte Seed Number and its Pass-Code (diagnostic-contract.md §5)."""

    vin: str
    master_secret: bytes = field(default=DEFAULT_MASTER_SECRET, repr=False)

    name: ClassVar[str] = "lab-passcode"
    seed_length: ClassVar[int] = SEED_NUMBER_LENGTH
    key_length: ClassVar[int] = PASS_CODE_LENGTH

    def __post_init__(self) -> None:
        if not isinstance(self.master_secret, bytes) or not self.master_secret:
            raise ConfigurationError("lab-passcode: master secret must be non-empty bytes")
        try:
            pass_code(self.vin, bytes(SEED_NUMBER_LENGTH), self.master_secret)
        except CodeFormatError as exc:
            raise ConfigurationError(f"lab-passcode: {exc}") from exc

    @classmethod
    def from_context(cls, context: AlgorithmContext) -> LabPassCodeAlgorithm:
        """Factory for the registry: needs ``context.vin`` (ConfigurationError if ``None``)."""
        if context.vin is None:
            raise ConfigurationError("lab-passcode needs the ECU's VIN (AlgorithmContext.vin)")
        return cls(context.vin, context.master_secret)

    def compute_key(self, seed: bytes) -> bytes:
        _check_seed(seed, self.seed_length, self.name)
        return pass_code(self.vin, seed, self.master_secret)

    def verify(self, seed: bytes, key: bytes) -> bool:
        return _verify(self, seed, key)


@dataclass(frozen=True)
class XorAlgorithm:
    """INSECURE on purpose: key = seed XOR mask, to emulate a vulnerable ECU.

    One observed seed/key pair reveals the mask; never use it for anything but attack demos and
    scanner tests. Seed and key are ``len(mask)`` bytes.
    """

    mask: bytes

    name: ClassVar[str] = "weak-xor"

    def __post_init__(self) -> None:
        if not isinstance(self.mask, bytes) or not self.mask:
            raise ConfigurationError("weak-xor: mask must be non-empty bytes")

    @property
    def seed_length(self) -> int:
        return len(self.mask)

    @property
    def key_length(self) -> int:
        return len(self.mask)

    @classmethod
    def from_context(cls, context: AlgorithmContext) -> XorAlgorithm:
        """Factory for the registry: mask 0xA5A5A5A5 (4-byte seed and key); ignores the context."""
        del context
        return cls(WEAK_XOR_DEFAULT_MASK)

    def compute_key(self, seed: bytes) -> bytes:
        _check_seed(seed, self.seed_length, self.name)
        return bytes(s ^ m for s, m in zip(seed, self.mask, strict=True))

    def verify(self, seed: bytes, key: bytes) -> bool:
        return _verify(self, seed, key)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name != name.strip():
        raise ConfigurationError(f"algorithm name must be a non-empty, unpadded str: {name!r}")


class AlgorithmRegistry:
    """Explicit name → :data:`AlgorithmFactory` table."""

    def __init__(self, factories: Mapping[str, AlgorithmFactory] | None = None) -> None:
        self._factories: dict[str, AlgorithmFactory] = {}
        for name, factory in (factories or {}).items():
            self.register(name, factory)

    def register(self, name: str, factory: AlgorithmFactory, *, replace: bool = False) -> None:
        """Register ``factory`` under ``name``; a taken name needs ``replace=True``."""
        _check_name(name)
        if not callable(factory):
            raise ConfigurationError(f"factory for algorithm {name!r} is not callable")
        if name in self._factories and not replace:
            raise ConfigurationError(
                f"security algorithm {name!r} is already registered (pass replace=True)"
            )
        self._factories[name] = factory

    def create(self, name: str, context: AlgorithmContext | None = None) -> SecurityAlgorithm:
        """Build the algorithm ``name`` for ``context`` (default: an empty context).

        Raises :class:`UnknownAlgorithmError` (listing the known names) for an unknown name and
        :class:`ConfigurationError` if the factory returns something that is not an algorithm.
        """
        try:
            factory = self._factories[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownAlgorithmError(
                f"unknown security algorithm {name!r}; known: {known}"
            ) from None
        algorithm = factory(context if context is not None else AlgorithmContext())
        if not isinstance(algorithm, SecurityAlgorithm):
            raise ConfigurationError(
                f"factory for {name!r} returned {type(algorithm).__name__}, not a SecurityAlgorithm"
            )
        for attribute in ("seed_length", "key_length"):
            value = getattr(algorithm, attribute)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"algorithm {name!r}: {attribute} must be an int ≥ 1, got {value!r}"
                )
        return algorithm

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._factories))

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def load_entry_points(
        self, group: str = ENTRY_POINT_GROUP, *, replace: bool = False
    ) -> tuple[str, ...]:
        """Register every factory published in the entry-point ``group``; return their names.

        The entry point's name is the algorithm name and its object an :data:`AlgorithmFactory`.
        A name already registered raises :class:`ConfigurationError` unless ``replace``.
        """
        loaded: list[str] = []
        for entry_point in sorted(metadata.entry_points(group=group), key=lambda ep: ep.name):
            try:
                factory = entry_point.load()
            except Exception as exc:
                raise ConfigurationError(
                    f"cannot load security algorithm entry point {entry_point.name!r} "
                    f"({entry_point.value}) from group {group!r}: {exc}"
                ) from exc
            self.register(entry_point.name, factory, replace=replace)
            _log.debug("registered security algorithm %r from %s", entry_point.name, entry_point)
            loaded.append(entry_point.name)
        return tuple(loaded)


def default_registry() -> AlgorithmRegistry:
    """A fresh registry with ``lab-diagnostic``, ``lab-passcode`` and the insecure ``weak-xor``."""
    return AlgorithmRegistry(
        {
            LabDiagnosticAlgorithm.name: LabDiagnosticAlgorithm.from_context,
            LabPassCodeAlgorithm.name: LabPassCodeAlgorithm.from_context,
            XorAlgorithm.name: XorAlgorithm.from_context,
        }
    )
