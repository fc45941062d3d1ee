"""Several owners sharing one NVM store, each with its own top-level section."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from protocol.errors import NvmCorruptError
from protocol.nvm import JsonValue, NvmStore


class SharedNvm:
    """Serialises read-modify-write of one store so sections never overwrite each other."""

    def __init__(self, store: NvmStore) -> None:
        self.store = store
        self.lock = threading.RLock()

    def section(self, name: str) -> NvmSection:
        return NvmSection(self, name)


class NvmSection:
    """An :class:`~protocol.nvm.NvmStore` view of one key of a shared store (e.g. the security
    record beside an ECU's key codes in the same file)."""

    def __init__(self, shared: SharedNvm, name: str) -> None:
        self._shared = shared
        self.name = name

    def __repr__(self) -> str:
        return f"NvmSection({self._shared.store!r}, {self.name!r})"

    def corrupt(self, problem: str) -> NvmCorruptError:
        return self._shared.store.corrupt(f"section {self.name!r}: {problem}")

    def load(self) -> dict[str, JsonValue] | None:
        with self._shared.lock:
            whole = self._shared.store.load()
            if whole is None:
                return None
            if self.name not in whole:
                return None
            value = whole[self.name]
            if not isinstance(value, dict):
                raise self.corrupt(f"is {type(value).__name__}, not an object")
            return dict(value)

    def save(self, data: Mapping[str, JsonValue]) -> None:
        with self._shared.lock:
            whole = self._shared.store.load() or {}
            whole[self.name] = dict(data)
            self._shared.store.save(whole)
