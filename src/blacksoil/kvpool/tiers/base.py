"""The tier interface: one level of the pool (host memory, local disk, a shared remote store).

Tiers are synchronous and thread-safe: an engine's worker thread restores and stores blocks
while the event loop serves lookups. ``put`` returns what it evicted to make room, so the pool
can demote it to the next tier down.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from blacksoil.kvpool.types import TierStats

Evicted = list[tuple[bytes, bytes]]
"""(key, payload) pairs a tier gave up to make room."""


class Tier(ABC):
    name: str
    shared: bool
    """Whether other processes (engine replicas, machines) see what this tier holds."""

    def __init__(self, name: str, capacity_bytes: int) -> None:
        self.name = name
        self.capacity_bytes = capacity_bytes
        self.stats = TierStats()

    @abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """The block's payload, or None (absent, or failed its checksum)."""

    @abstractmethod
    def put(self, key: bytes, payload: bytes, cost: float = 1.0) -> Evicted:
        """Store the block, evicting others if the tier is full; a block larger than the tier is not stored."""

    @abstractmethod
    def contains(self, keys: Sequence[bytes]) -> list[bool]:
        """For each key, whether the tier holds it: one call (one round trip) for a whole prompt."""

    @abstractmethod
    def delete(self, key: bytes) -> None: ...

    @property
    @abstractmethod
    def used_bytes(self) -> int: ...

    @property
    @abstractmethod
    def blocks(self) -> int: ...

    def close(self) -> None:  # noqa: B027 - most tiers hold nothing to release
        """Release connections or handles."""

    def describe(self) -> dict[str, object]:
        return {
            "tier": self.name,
            "kind": type(self).__name__,
            "shared": self.shared,
            "capacity_bytes": self.capacity_bytes,
            "used_bytes": self.used_bytes,
            "blocks": self.blocks,
            **self.stats.as_dict(),
        }
