"""The eviction interface: which block a full tier gives up first.

A tier tells its policy about every block it admits, reads and drops; when it needs room it asks
for a victim. Policies see keys, sizes and recompute costs only, never the data, so the same
classes run in a tier and in the trace simulator.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class EvictionPolicy(ABC):
    name: str

    @abstractmethod
    def admit(self, key: bytes, size: int, cost: float) -> None:
        """A new block entered the tier (``cost``: what recomputing it would take, in any unit)."""

    @abstractmethod
    def touch(self, key: bytes) -> None:
        """The block was read."""

    @abstractmethod
    def forget(self, key: bytes) -> None:
        """The block left the tier for another reason (deleted, corrupt)."""

    @abstractmethod
    def victim(self) -> bytes:
        """Choose the block to evict and stop tracking it; KeyError when there is none."""

    @abstractmethod
    def __len__(self) -> int: ...
