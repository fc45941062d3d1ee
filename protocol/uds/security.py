"""SecurityAccess state and policy (ISO 14229-1 §10.4; diagnostic-contract.md §3).

The framework owns the protocol rules: odd/even pairing, all-zero seeds for an unlocked level,
single-use seeds, one unlocked level at a time, the failed-attempt counter, NRC 0x35/0x36/0x37
and the persisted "last attempt failed" flag with its boot delay. An ECU supplies the levels
(each with an algorithm), a seed source and an NVM store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from protocol.constants import Nrc
from protocol.errors import ConfigurationError, NegativeResponseError, NvmError
from protocol.nvm import NvmStore
from protocol.security_algorithms import SecurityAlgorithm
from protocol.seed_source import SeedSource
from protocol.uds.sessions import EXTENDED_ONLY

logger = logging.getLogger(__name__)

MAX_SEED_DRAWS = 16
"""How often a seed is redrawn if the source returns all zeros (reserved for 'unlocked')."""


@dataclass(frozen=True)
class SecurityLevel:
    """A security level: ``level`` is the odd requestSeed sub-function (ISO 14229-1 Table 42);
    sendKey is ``level + 1``. ``sessions``: where it may be requested, else NRC 0x7E."""

    level: int
    algorithm: SecurityAlgorithm
    name: str = ""
    sessions: frozenset[int] | None = EXTENDED_ONLY

    def __post_init__(self) -> None:
        if self.level % 2 != 1 or not 0x01 <= self.level <= 0x7D:
            raise ConfigurationError(
                f"a requestSeed level must be odd and within 0x01..0x7D, got {self.level:#04x}"
            )
        if self.algorithm.seed_length < 1 or self.algorithm.key_length < 1:
            raise ConfigurationError(f"level {self.level:#04x}: seed and key must be ≥ 1 byte")

    @property
    def send_key(self) -> int:
        return self.level + 1


@dataclass(frozen=True)
class SecurityPolicy:
    """Attempt limit and delays (diagnostic-contract.md §3): the ``attempt_limit``-th consecutive
    wrong key answers 0x36 and starts ``delay_s``; after a power cycle or ECUReset following a
    failed attempt, requestSeed answers 0x37 for ``boot_delay_s``."""

    attempt_limit: int = 3
    delay_s: float = 10.0
    boot_delay_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempt_limit < 1:
            raise ConfigurationError(f"attempt limit must be ≥ 1, got {self.attempt_limit}")
        if self.delay_s < 0 or self.boot_delay_s < 0:
            raise ConfigurationError("security delays must be ≥ 0 s")


NVM_FAILED_ATTEMPTS = "failed_attempts"
NVM_LAST_ATTEMPT_FAILED = "last_attempt_failed"


class SecurityManager:
    """The security state of one server. All methods take ``now`` in clock seconds."""

    def __init__(
        self,
        levels: Iterable[SecurityLevel],
        *,
        seed_source: SeedSource,
        nvm: NvmStore,
        policy: SecurityPolicy | None = None,
    ) -> None:
        self.levels: dict[int, SecurityLevel] = {}
        for item in levels:
            if item.level in self.levels:
                raise ConfigurationError(f"security level {item.level:#04x} is defined twice")
            self.levels[item.level] = item
        self.policy = policy if policy is not None else SecurityPolicy()
        self._seed_source = seed_source
        self._nvm = nvm
        self._lock = threading.RLock()
        self.unlocked_level: int | None = None
        self._outstanding: tuple[int, bytes] | None = None
        self._delay_until: float | None = None
        self.failed_attempts = 0
        self.last_attempt_failed = False
        self._load()  # validate now: a bad record must stop an ECU before it writes anything

    # -- lifecycle -----------------------------------------------------------------------------

    def power_on(self, now: float, *, strict: bool = True) -> None:
        """Boot: volatile state cleared, persisted counter loaded, boot delay if the last attempt
        failed (diagnostic-contract.md §3).

        A record that cannot be read raises when ``strict``; otherwise it is logged and the
        server fails safe: the counters in memory are kept and the boot delay applies."""
        with self._lock:
            self.lock()
            self._delay_until = None
            try:
                self._load()
            except NvmError as exc:
                if strict:
                    raise
                logger.error("security record unreadable, failing safe: %s", exc)
                self.last_attempt_failed = True
            if self.last_attempt_failed and self.policy.boot_delay_s > 0:
                self._delay_until = now + self.policy.boot_delay_s

    def lock(self) -> None:
        """Re-lock every level and drop an outstanding seed (session change, S3, reset)."""
        with self._lock:
            self.unlocked_level = None
            self._outstanding = None

    # -- queries -------------------------------------------------------------------------------

    def level_for(self, sub_function: int) -> SecurityLevel | None:
        """The level addressed by a requestSeed (odd) or sendKey (even) sub-function."""
        return self.levels.get(sub_function if sub_function % 2 else sub_function - 1)

    def is_unlocked(self, levels: frozenset[int]) -> bool:
        """Whether access needing any of ``levels`` is granted (empty: nothing needed)."""
        with self._lock:
            return not levels or self.unlocked_level in levels

    def delay_remaining(self, now: float) -> float:
        with self._lock:
            if self._delay_until is None or now >= self._delay_until:
                return 0.0
            return self._delay_until - now

    # -- service operations --------------------------------------------------------------------

    def request_seed(self, level: SecurityLevel, now: float) -> bytes:
        """requestSeed: 0x37 during a delay; all-zero seed when already unlocked; else a fresh,
        non-zero, single-use seed that replaces any outstanding one."""
        with self._lock:
            if self.delay_remaining(now) > 0:
                raise NegativeResponseError(
                    Nrc.REQUIRED_TIME_DELAY_NOT_EXPIRED,
                    f"{self.delay_remaining(now):.1f} s of security delay left",
                )
            length = level.algorithm.seed_length
            if self.unlocked_level == level.level:
                self._outstanding = None
                return bytes(length)
            seed = self._fresh_seed(length)
            self._outstanding = (level.level, seed)
            return seed

    def send_key(self, level: SecurityLevel, key: bytes, now: float) -> None:
        """sendKey: consumes the outstanding seed; 0x13 wrong length, 0x24 no seed, 0x35 wrong
        key, 0x36 on the attempt limit (delay starts). The counter is saved before answering."""
        with self._lock:
            outstanding, self._outstanding = self._outstanding, None
            if len(key) != level.algorithm.key_length:
                raise NegativeResponseError(
                    Nrc.INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT,
                    f"key must be {level.algorithm.key_length} bytes, got {len(key)}",
                )
            if outstanding is None or outstanding[0] != level.level:
                raise NegativeResponseError(
                    Nrc.REQUEST_SEQUENCE_ERROR, f"no seed outstanding for level {level.level:#04x}"
                )
            if level.algorithm.verify(outstanding[1], key):
                self.failed_attempts = 0
                self.last_attempt_failed = False
                self._save()  # persisted first: if the save fails, nothing is unlocked
                self.unlocked_level = level.level
                return
            self.failed_attempts = min(self.failed_attempts + 1, 0xFF)
            self.last_attempt_failed = True
            locked_out = self.failed_attempts >= self.policy.attempt_limit
            if locked_out:
                self._delay_until = now + self.policy.delay_s  # in force even if saving fails
            self._save()
            if locked_out:
                raise NegativeResponseError(
                    Nrc.EXCEEDED_NUMBER_OF_ATTEMPTS,
                    f"{self.failed_attempts} failed attempts; {self.policy.delay_s:g} s delay",
                )
            raise NegativeResponseError(
                Nrc.INVALID_KEY, f"attempt {self.failed_attempts} of {self.policy.attempt_limit}"
            )

    def reset_counter(self) -> None:
        """Forget failed attempts (a replaced ECU starts with a clean record)."""
        with self._lock:
            self.failed_attempts = 0
            self.last_attempt_failed = False
            self._delay_until = None
            self._save()

    # -- internals -----------------------------------------------------------------------------

    def _fresh_seed(self, length: int) -> bytes:
        zero = bytes(length)
        for _ in range(MAX_SEED_DRAWS):
            seed = self._seed_source.random_bytes(length)
            if len(seed) != length:
                raise ConfigurationError(f"seed source returned {len(seed)} bytes, not {length}")
            if seed != zero:
                return seed
        raise ConfigurationError("seed source keeps returning all-zero seeds")

    def _load(self) -> None:
        data = self._nvm.load()
        if data is None:
            self.failed_attempts = 0
            self.last_attempt_failed = False
            return
        attempts = data.get(NVM_FAILED_ATTEMPTS, 0)
        failed = data.get(NVM_LAST_ATTEMPT_FAILED, False)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 <= attempts <= 0xFF:
            raise self._nvm.corrupt(f"security record: failed_attempts={attempts!r} is not 0..255")
        if not isinstance(failed, bool):
            raise self._nvm.corrupt(
                f"security record: last_attempt_failed={failed!r} is not a bool"
            )
        self.failed_attempts = attempts
        self.last_attempt_failed = failed

    def _save(self) -> None:
        """Persist the counter; a failed write answers 0x72 generalProgrammingFailure."""
        try:
            self._nvm.save(
                {
                    NVM_FAILED_ATTEMPTS: self.failed_attempts,
                    NVM_LAST_ATTEMPT_FAILED: self.last_attempt_failed,
                }
            )
        except NvmError as exc:
            logger.error("security record not saved: %s", exc)
            raise NegativeResponseError(
                Nrc.GENERAL_PROGRAMMING_FAILURE, "attempt counter could not be saved"
            ) from exc
