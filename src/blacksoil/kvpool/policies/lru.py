"""``lru``: evict the block read or written longest ago."""

from __future__ import annotations

from collections import OrderedDict

from blacksoil.kvpool.policies.base import EvictionPolicy


class LRU(EvictionPolicy):
    name = "lru"

    def __init__(self) -> None:
        self._order: OrderedDict[bytes, None] = OrderedDict()

    def admit(self, key: bytes, size: int, cost: float) -> None:
        self._order[key] = None
        self._order.move_to_end(key)

    def touch(self, key: bytes) -> None:
        if key in self._order:
            self._order.move_to_end(key)

    def forget(self, key: bytes) -> None:
        self._order.pop(key, None)

    def victim(self) -> bytes:
        if not self._order:
            raise KeyError("no block to evict")
        return self._order.popitem(last=False)[0]

    def __len__(self) -> int:
        return len(self._order)
