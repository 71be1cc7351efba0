"""The pool: tiers from fastest to slowest, behind one get/put/lookup interface.

* ``lookup`` finds the longest prefix of a prompt's block keys held by any tier, asking each tier
  once for all the keys the faster tiers lacked.
* ``get`` reads from the fastest tier that has the block and promotes it into the faster ones.
* ``put`` stores into the fastest tier and writes through to every shared tier, so another
  replica (process or machine) finds the block at once. What a tier evicts to make room is
  demoted into the next tier down that lacks it.
"""

from __future__ import annotations

from collections.abc import Sequence

from blacksoil.kvpool.tiers.base import Evicted, Tier
from blacksoil.kvpool.types import Match, TierStats


class KVPool:
    def __init__(self, tiers: Sequence[Tier]) -> None:
        if not tiers:
            raise ValueError("a KV pool needs at least one tier")
        self.tiers = list(tiers)

    def lookup(self, keys: Sequence[bytes]) -> Match:
        """The longest run of leading blocks that some tier holds, and where each one is."""
        where = self._where(keys)
        n = next((i for i, w in enumerate(where) if w is None), len(keys))
        return Match(n, tuple(w for w in where[:n] if w is not None))

    def contains(self, keys: Sequence[bytes]) -> list[bool]:
        """For each key, whether any tier holds it."""
        return [w is not None for w in self._where(keys)]

    def get(self, key: bytes) -> bytes | None:
        for depth, tier in enumerate(self.tiers):
            payload = tier.get(key)
            if payload is not None:
                for faster in reversed(self.tiers[:depth]):
                    self._store(faster, key, payload, 1.0)
                return payload
        return None

    def put(self, key: bytes, payload: bytes, cost: float = 1.0) -> None:
        top, *rest = self.tiers
        self._store(top, key, payload, cost)
        for tier in rest:
            if tier.shared:
                self._store(tier, key, payload, cost)

    def delete(self, key: bytes) -> None:
        for tier in self.tiers:
            tier.delete(key)

    def stats(self) -> dict[str, TierStats]:
        return {t.name: t.stats for t in self.tiers}

    def describe(self) -> list[dict[str, object]]:
        return [t.describe() for t in self.tiers]

    def close(self) -> None:
        for tier in self.tiers:
            tier.close()

    def _where(self, keys: Sequence[bytes]) -> list[str | None]:
        """The fastest tier holding each key; each tier is asked once, for what faster ones lacked."""
        where: list[str | None] = [None] * len(keys)
        missing = list(range(len(keys)))
        for tier in self.tiers:
            if not missing:
                break
            for i, found in zip(missing, tier.contains([keys[i] for i in missing]), strict=True):
                if found:
                    where[i] = tier.name
            missing = [i for i in missing if where[i] is None]
        return where

    def _store(self, tier: Tier, key: bytes, payload: bytes, cost: float) -> None:
        self._demote(tier, tier.put(key, payload, cost))

    def _demote(self, source: Tier, evicted: Evicted) -> None:
        below = self.tiers[self.tiers.index(source) + 1 :]
        if not below or not evicted:
            return
        target = below[0]
        held = target.contains([k for k, _ in evicted])
        for (key, payload), present in zip(evicted, held, strict=True):
            if not present:
                self._store(target, key, payload, 1.0)
