"""``cost_aware``: Greedy-Dual-Size-Frequency — keep what is often read and costly to recompute.

Each block's priority is ``clock + reads * cost / size``; the lowest priority goes first and the
clock rises to it, so a block that was popular long ago ages out once newer blocks overtake it.
With equal sizes and costs this is frequency with ageing; a block deep in a long prompt (costlier
to recompute, since prefill attends over the whole prefix) can be given a higher cost.
"""

from __future__ import annotations

import heapq
import itertools

from blacksoil.kvpool.policies.base import EvictionPolicy


class CostAware(EvictionPolicy):
    name = "cost_aware"

    def __init__(self) -> None:
        self._clock = 0.0
        self._entries: dict[bytes, tuple[float, int, float, int]] = {}
        """key → (priority, reads, cost, size)"""
        self._heap: list[tuple[float, int, bytes]] = []
        self._seq = itertools.count()

    def admit(self, key: bytes, size: int, cost: float) -> None:
        self._set(key, 1, cost, max(size, 1))

    def touch(self, key: bytes) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            _, reads, cost, size = entry
            self._set(key, reads + 1, cost, size)

    def forget(self, key: bytes) -> None:
        self._entries.pop(key, None)  # its heap entries go stale and are skipped

    def victim(self) -> bytes:
        while self._heap:
            priority, _, key = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is not None and entry[0] == priority:
                del self._entries[key]
                self._clock = priority
                return key
        raise KeyError("no block to evict")

    def __len__(self) -> int:
        return len(self._entries)

    def _set(self, key: bytes, reads: int, cost: float, size: int) -> None:
        priority = self._clock + reads * cost / size
        self._entries[key] = (priority, reads, cost, size)
        heapq.heappush(self._heap, (priority, next(self._seq), key))
        if len(self._heap) > 4 * len(self._entries) + 64:  # drop stale entries now and then
            self._heap = [(p, s, k) for p, s, k in self._heap if self._entries.get(k, (None,))[0] == p]
            heapq.heapify(self._heap)
