"""The balancing interface: order a model's usable replicas for one request.

The pool calls ``order()`` once per request with the replicas that are healthy and whose breaker
allows traffic; it tries them in the returned order, moving on only when one fails to start.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

from blacksoil.tokens.types import GenerationRequest


class ReplicaView(Protocol):
    """What a policy may read about a replica."""

    @property
    def name(self) -> str: ...
    @property
    def in_flight(self) -> int: ...


class BalancingPolicy(ABC):
    name: str

    @abstractmethod
    def order(self, replicas: Sequence[ReplicaView], request: GenerationRequest | None) -> Sequence[ReplicaView]:
        """Return the replicas in the order they should be tried."""
