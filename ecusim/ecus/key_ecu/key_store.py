"""Registered key codes, persisted in the ECU's NVM section ``keys``."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ecusim.car.keys import InvalidKeyError, Key, KeyKind
from protocol.nvm import JsonValue, NvmStore


@dataclass(frozen=True)
class RegisteredKey:
    """What the ECU learnt when it registered a key: its ID, blank kind and secret."""

    transponder_id: int
    kind: KeyKind
    secret: bytes

    @classmethod
    def of(cls, key: Key) -> RegisteredKey:
        """What the ECU learns of ``key`` when it registers it."""
        return cls(key.transponder_id, key.kind, key.secret)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "id": f"{self.transponder_id:08X}",
            "kind": self.kind.value,
            "secret": self.secret.hex(),
        }


@dataclass(frozen=True)
class KeySlots:
    """How many master and sub keys (or smart keys) a procedure may register."""

    masters: int
    subs: int = 0
    smart: int = 0

    def limit(self, kind: KeyKind) -> int:
        return {KeyKind.MASTER: self.masters, KeyKind.SUB: self.subs, KeyKind.SMART: self.smart}[
            kind
        ]


class KeyStore:
    """The key codes of one ECU plus whether automatic registration is running; every change is
    written to NVM before it takes effect in memory.

    ``capacity`` (per kind) and ``total`` are the most this ECU's memory can hold: a stored record
    beyond them cannot come from the ECU itself, so :meth:`load` refuses it as corrupt.
    """

    def __init__(self, nvm: NvmStore, capacity: KeySlots, *, total: int | None = None) -> None:
        self._nvm = nvm
        self.capacity = capacity
        self.total = total
        self._lock = threading.RLock()
        self._keys: dict[int, RegisteredKey] = {}
        self.automatic_registration = False

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> bool:
        """Load from NVM; ``False`` when the memory is blank (never manufactured)."""
        data = self._nvm.load()
        if data is None:
            return False
        entries = data.get("keys")
        automatic = data.get("automatic_registration")
        if not isinstance(entries, list) or not isinstance(automatic, bool):
            raise self._nvm.corrupt(
                "key record: 'keys' must be a list and 'automatic_registration' a bool"
            )
        keys: dict[int, RegisteredKey] = {}
        for index, entry in enumerate(entries):
            key = self._parse(entry, index)
            if key.transponder_id in keys:
                raise self._nvm.corrupt(f"key record: key {key.transponder_id:08X} stored twice")
            keys[key.transponder_id] = key
        problem = self._capacity_problem(list(keys.values()))
        if problem is not None:
            raise self._nvm.corrupt(f"key record: {problem}")
        with self._lock:
            self._keys = keys
            self.automatic_registration = automatic
        return True

    def _parse(self, entry: JsonValue, index: int) -> RegisteredKey:
        if not isinstance(entry, dict):
            raise self._nvm.corrupt(f"key record #{index} is not an object")
        try:
            transponder_id = int(str(entry["id"]), 16)
            kind = KeyKind(str(entry["kind"]))
            secret = bytes.fromhex(str(entry["secret"]))
            Key(transponder_id)  # validates the ID's range and kind nibble
        except (KeyError, ValueError, InvalidKeyError) as exc:
            raise self._nvm.corrupt(f"key record #{index} is invalid ({exc!r})") from exc
        if len(secret) != 16:
            raise self._nvm.corrupt(f"key record #{index}: the secret must be 16 bytes")
        blank = Key(transponder_id).kind
        if (blank is KeyKind.SMART) != (kind is KeyKind.SMART):  # master/sub: ECM-integrated
            raise self._nvm.corrupt(
                f"key record #{index}: {transponder_id:08X} is a {blank} key, stored as {kind}"
            )
        return RegisteredKey(transponder_id, kind, secret)

    def _capacity_problem(self, keys: list[RegisteredKey]) -> str | None:
        """Why ``keys`` cannot all be in this ECU's memory, or ``None``."""
        for kind in KeyKind:
            count = sum(1 for key in keys if key.kind is kind)
            limit = self.capacity.limit(kind)
            if count > limit:
                holds = f"at most {limit}" if limit else "none"
                return f"{count} {kind} key(s), and this ECU holds {holds}"
        if self.total is not None and len(keys) > self.total:
            return f"{len(keys)} keys, and this ECU holds at most {self.total}"
        return None

    # -- queries -------------------------------------------------------------------------------

    def get(self, transponder_id: int) -> RegisteredKey | None:
        with self._lock:
            return self._keys.get(transponder_id)

    def count(self, kind: KeyKind) -> int:
        with self._lock:
            return sum(1 for key in self._keys.values() if key.kind is kind)

    def all(self) -> list[RegisteredKey]:
        with self._lock:
            return list(self._keys.values())

    # -- changes (persisted first) -------------------------------------------------------------

    def manufacture(self, keys: Sequence[RegisteredKey], *, automatic_registration: bool) -> None:
        """Write the factory record in one go (``ValueError`` if ``keys`` do not fit)."""
        with self._lock:
            self._commit({key.transponder_id: key for key in keys}, automatic_registration)

    def add(self, key: RegisteredKey) -> None:
        with self._lock:
            self._commit({**self._keys, key.transponder_id: key}, self.automatic_registration)

    def keep_only(self, transponder_ids: set[int], *, automatic_registration: bool) -> None:
        with self._lock:
            kept = {i: k for i, k in self._keys.items() if i in transponder_ids}
            self._commit(kept, automatic_registration)

    def set_automatic_registration(self, active: bool) -> None:
        with self._lock:
            self._commit(self._keys, active)

    def _commit(self, keys: dict[int, RegisteredKey], automatic: bool) -> None:
        problem = self._capacity_problem(list(keys.values()))
        if problem is not None:  # the ECU's registration rules stop short of this
            raise ValueError(f"cannot store the keys: {problem}")
        self._nvm.save(
            {
                "keys": [key.to_json() for key in keys.values()],
                "automatic_registration": automatic,
            }
        )
        self._keys = dict(keys)
        self.automatic_registration = automatic
