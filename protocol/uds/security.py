"""SecurityAccess state and policy (ISO 14229-1 §10.4; diagnostic-contract.md §3).

The framework owns the protocol rules: odd/even pairing, all-zero seeds for an unlocked level,
single-use seeds, one unlocked level at a time, and per level (as AUTOSAR Dcm keeps them) the
failed-attempt counter, NRC 0x35/0x36/0x37, the persisted "last attempt failed" flag and the
delays. An ECU supplies the levels
(each with an algorithm), a seed source and an NVM store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protocol.constants import Nrc
from protocol.errors import ConfigurationError, NegativeResponseError, NvmError
from protocol.nvm import JsonValue, NvmStore
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
    """Attempt limit and delays, applied to each level on its own (diagnostic-contract.md §3):
    a level's ``attempt_limit``-th consecutive wrong key answers 0x36 and starts ``delay_s`` on
    that level; after a power cycle or ECUReset, requestSeed of a level whose last attempt failed
    answers 0x37 for ``boot_delay_s``."""

    attempt_limit: int = 3
    delay_s: float = 10.0
    boot_delay_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempt_limit < 1:
            raise ConfigurationError(f"attempt limit must be ≥ 1, got {self.attempt_limit}")
        if self.delay_s < 0 or self.boot_delay_s < 0:
            raise ConfigurationError("security delays must be ≥ 0 s")


NVM_LEVELS = "levels"
"""The NVM record: ``{"levels": {"<level>": {"failed_attempts": n, "last_attempt_failed": b}}}``,
one entry per configured level, keyed by the requestSeed sub-function in decimal."""
NVM_FAILED_ATTEMPTS = "failed_attempts"
NVM_LAST_ATTEMPT_FAILED = "last_attempt_failed"


@dataclass
class _LevelState:
    failed_attempts: int = 0
    last_attempt_failed: bool = False
    delay_until: float | None = None


@dataclass(frozen=True)
class LevelStatus:
    """One level's security state at a moment (DID 0x010C of diagnostic-contract.md §4)."""

    level: int
    failed_attempts: int
    delay_remaining_s: float


class SecurityManager:
    """The security state of one server, kept per level (diagnostic-contract.md §3, as AUTOSAR
    Dcm does): each level has its own failed-attempt counter, "last attempt failed" flag and
    delay, so a success on one level never clears another's. All methods take ``now`` in clock
    seconds."""

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
        self.levels = dict(sorted(self.levels.items()))
        self.policy = policy if policy is not None else SecurityPolicy()
        self._seed_source = seed_source
        self._nvm = nvm
        self._lock = threading.RLock()
        self.unlocked_level: int | None = None
        self._outstanding: tuple[int, bytes] | None = None
        self._states = {level: _LevelState() for level in self.levels}
        self._load()  # validate now: a bad record must stop an ECU before it writes anything

    # -- lifecycle -----------------------------------------------------------------------------

    def power_on(self, now: float, *, strict: bool = True) -> None:
        """Boot: volatile state cleared, persisted counters loaded, the boot delay on each level
        whose last attempt failed (diagnostic-contract.md §3).

        A record that cannot be read raises when ``strict``; otherwise it is logged and the
        server fails safe: the counters in memory are kept and every level gets the boot delay."""
        with self._lock:
            self.lock()
            for state in self._states.values():
                state.delay_until = None
            try:
                self._load()
            except NvmError as exc:
                if strict:
                    raise
                logger.error("security record unreadable, failing safe: %s", exc)
                for state in self._states.values():
                    state.last_attempt_failed = True
            if self.policy.boot_delay_s > 0:
                for state in self._states.values():
                    if state.last_attempt_failed:
                        state.delay_until = now + self.policy.boot_delay_s

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

    def failed_attempts(self, level: int) -> int:
        """Consecutive failed sendKeys of ``level`` (a requestSeed sub-function)."""
        with self._lock:
            return self._state(level).failed_attempts

    def last_attempt_failed(self, level: int) -> bool:
        with self._lock:
            return self._state(level).last_attempt_failed

    def delay_remaining(self, level: int, now: float) -> float:
        """Seconds left of ``level``'s delay (lockout or boot delay); 0 when none."""
        with self._lock:
            until = self._state(level).delay_until
            if until is None or now >= until:
                return 0.0
            return until - now

    def status(self, now: float) -> tuple[LevelStatus, ...]:
        """Every configured level's state, in ascending level order."""
        with self._lock:
            return tuple(
                LevelStatus(level, state.failed_attempts, self.delay_remaining(level, now))
                for level, state in self._states.items()
            )

    # -- service operations --------------------------------------------------------------------

    def request_seed(self, level: SecurityLevel, now: float) -> bytes:
        """requestSeed: 0x37 during this level's delay; all-zero seed when already unlocked;
        else a fresh, non-zero, single-use seed that replaces any outstanding one."""
        with self._lock:
            remaining = self.delay_remaining(level.level, now)
            if remaining > 0:
                raise NegativeResponseError(
                    Nrc.REQUIRED_TIME_DELAY_NOT_EXPIRED,
                    f"{remaining:.1f} s of security delay left on level {level.level:#04x}",
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
        key, 0x36 on the level's attempt limit (its delay starts). Only this level's counter
        changes; it is saved before answering."""
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
            state = self._state(level.level)
            if level.algorithm.verify(outstanding[1], key):
                previous = state.failed_attempts, state.last_attempt_failed
                state.failed_attempts, state.last_attempt_failed = 0, False
                try:
                    self._save()  # persisted first: if the save fails, nothing is unlocked
                except NegativeResponseError:
                    state.failed_attempts, state.last_attempt_failed = previous
                    raise
                self.unlocked_level = level.level
                return
            state.failed_attempts = min(state.failed_attempts + 1, 0xFF)
            state.last_attempt_failed = True
            locked_out = state.failed_attempts >= self.policy.attempt_limit
            if locked_out:
                state.delay_until = now + self.policy.delay_s  # in force even if saving fails
            self._save()
            if locked_out:
                raise NegativeResponseError(
                    Nrc.EXCEEDED_NUMBER_OF_ATTEMPTS,
                    f"level {level.level:#04x}: {state.failed_attempts} failed attempts; "
                    f"{self.policy.delay_s:g} s delay",
                )
            raise NegativeResponseError(
                Nrc.INVALID_KEY,
                f"level {level.level:#04x}: attempt {state.failed_attempts} of "
                f"{self.policy.attempt_limit}",
            )

    def reset_counter(self) -> None:
        """Forget every level's failed attempts (a replaced ECU starts with a clean record)."""
        with self._lock:
            for state in self._states.values():
                state.failed_attempts = 0
                state.last_attempt_failed = False
                state.delay_until = None
            self._save()

    # -- internals -----------------------------------------------------------------------------

    def _state(self, level: int) -> _LevelState:
        state = self._states.get(level)
        if state is None:
            raise ConfigurationError(f"security level {level:#04x} is not configured")
        return state

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
        """Read the record (see :data:`NVM_LEVELS`) into every level; nothing changes unless
        the whole record is valid.

        The flat record of earlier versions (one ``failed_attempts`` and ``last_attempt_failed``
        for the whole server) still loads, failing safe: its values apply to every level. A
        configured level missing from a per-level record starts clean; a recorded level no
        longer configured is ignored (and dropped at the next save)."""
        data = self._nvm.load()
        loaded: dict[int, tuple[int, bool]]
        if data is None:
            loaded = dict.fromkeys(self._states, (0, False))
        elif NVM_LEVELS in data:
            records = data[NVM_LEVELS]
            if not isinstance(records, dict):
                raise self._nvm.corrupt(f"security record: levels={records!r} is not an object")
            loaded = dict.fromkeys(self._states, (0, False))
            for name, record in records.items():
                if not _is_level_name(name):
                    raise self._nvm.corrupt(
                        f"security record: level {name!r} is not an odd number 1..125"
                    )
                if not isinstance(record, dict):
                    raise self._nvm.corrupt(
                        f"security record: level {name}={record!r} is not an object"
                    )
                values = self._values(record, f"level {name}: ")
                if int(name) in loaded:
                    loaded[int(name)] = values
        else:
            loaded = dict.fromkeys(self._states, self._values(data, "(flat) "))
        for level, (attempts, failed) in loaded.items():
            self._states[level].failed_attempts = attempts
            self._states[level].last_attempt_failed = failed

    def _values(self, record: Mapping[str, JsonValue], where: str) -> tuple[int, bool]:
        attempts = record.get(NVM_FAILED_ATTEMPTS, 0)
        failed = record.get(NVM_LAST_ATTEMPT_FAILED, False)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 <= attempts <= 0xFF:
            raise self._nvm.corrupt(
                f"security record: {where}failed_attempts={attempts!r} is not 0..255"
            )
        if not isinstance(failed, bool):
            raise self._nvm.corrupt(
                f"security record: {where}last_attempt_failed={failed!r} is not a bool"
            )
        return attempts, failed

    def _save(self) -> None:
        """Persist every level's counter and flag in one write (one atomic NVM save); a failed
        write answers 0x72 generalProgrammingFailure."""
        levels: dict[str, JsonValue] = {
            str(level): {
                NVM_FAILED_ATTEMPTS: state.failed_attempts,
                NVM_LAST_ATTEMPT_FAILED: state.last_attempt_failed,
            }
            for level, state in self._states.items()
        }
        try:
            self._nvm.save({NVM_LEVELS: levels})
        except NvmError as exc:
            logger.error("security record not saved: %s", exc)
            raise NegativeResponseError(
                Nrc.GENERAL_PROGRAMMING_FAILURE, "attempt counter could not be saved"
            ) from exc


def _is_level_name(name: str) -> bool:
    """``name`` is an odd requestSeed level 1..125 written in canonical decimal."""
    if not (name.isascii() and name.isdecimal()) or str(int(name)) != name:
        return False
    return 0x01 <= int(name) <= 0x7D and int(name) % 2 == 1
