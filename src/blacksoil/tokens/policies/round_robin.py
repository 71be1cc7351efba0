"""Send requests to replicas in turn, whatever their load."""

from __future__ import annotations

from collections.abc import Sequence

from blacksoil.tokens.policies.base import BalancingPolicy, ReplicaView
from blacksoil.tokens.types import GenerationRequest


class RoundRobin(BalancingPolicy):
    name = "round_robin"

    def __init__(self) -> None:
        self._turn = 0

    def order(self, replicas: Sequence[ReplicaView], request: GenerationRequest | None) -> Sequence[ReplicaView]:
        self._turn += 1
        n = len(replicas)
        return [replicas[(i + self._turn) % n] for i in range(n)]
