"""Send each request to the replica with the fewest requests in flight; ties rotate."""

from __future__ import annotations

from collections.abc import Sequence

from blacksoil.tokens.policies.base import BalancingPolicy, ReplicaView
from blacksoil.tokens.types import GenerationRequest


class LeastLoaded(BalancingPolicy):
    name = "least_loaded"

    def __init__(self) -> None:
        self._turn = 0

    def order(self, replicas: Sequence[ReplicaView], request: GenerationRequest | None) -> Sequence[ReplicaView]:
        if len(replicas) <= 1:
            return replicas
        self._turn += 1
        n = len(replicas)
        rotated = [replicas[(i + self._turn) % n] for i in range(n)]
        return sorted(rotated, key=lambda r: r.in_flight)  # stable: ties keep the rotation
