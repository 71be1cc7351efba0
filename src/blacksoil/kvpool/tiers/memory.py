"""Host memory: a dict of payloads under a byte budget, evicting with the configured policy."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from blacksoil.kvpool.policies import EvictionPolicy
from blacksoil.kvpool.tiers.base import Evicted, Tier


class MemoryTier(Tier):
    shared = False

    def __init__(self, name: str, capacity_bytes: int, policy: EvictionPolicy) -> None:
        super().__init__(name, capacity_bytes)
        self.policy = policy
        self._data: dict[bytes, bytes] = {}
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            self.stats.lookups += 1
            payload = self._data.get(key)
            if payload is None:
                return None
            self.stats.hits += 1
            self.stats.bytes_read += len(payload)
            self.policy.touch(key)
            return payload

    def put(self, key: bytes, payload: bytes, cost: float = 1.0) -> Evicted:
        size = len(payload)
        if size > self.capacity_bytes:
            return []
        evicted: Evicted = []
        with self._lock:
            if key in self._data:
                self.policy.touch(key)
                return []
            while self._used + size > self.capacity_bytes:
                victim = self.policy.victim()
                old = self._data.pop(victim)
                self._used -= len(old)
                self.stats.evictions += 1
                evicted.append((victim, old))
            self._data[key] = payload
            self._used += size
            self.policy.admit(key, size, cost)
            self.stats.puts += 1
            self.stats.bytes_written += size
        return evicted

    def contains(self, keys: Sequence[bytes]) -> list[bool]:
        data = self._data
        return [k in data for k in keys]

    def delete(self, key: bytes) -> None:
        with self._lock:
            payload = self._data.pop(key, None)
            if payload is not None:
                self._used -= len(payload)
                self.policy.forget(key)

    @property
    def used_bytes(self) -> int:
        return self._used

    @property
    def blocks(self) -> int:
        return len(self._data)
