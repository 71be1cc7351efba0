"""The placement interface: choose a node, and the GPUs on it, for one task.

Policies see the cluster's arrays and the feasible nodes; they return the node and GPU slots,
or None when nothing fits. They keep no state between calls but a seeded random generator and
the tie-breaking order drawn from it, so a simulation is reproducible and the same class runs in
the simulator and in the scheduler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from blacksoil.scheduler.cluster import Cluster
from blacksoil.scheduler.types import Task

Choice = tuple[int, tuple[int, ...]]


class PlacementPolicy(ABC):
    name: str

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._rank: np.ndarray | None = None

    def choose(self, cluster: Cluster, task: Task) -> Choice | None:
        feasible = np.nonzero(cluster.feasible(task))[0]
        if feasible.size == 0:
            return None
        return self.pick(cluster, task, feasible)

    @abstractmethod
    def pick(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> Choice:
        """Among ``feasible`` node indices (non-empty), the node and GPU slots for ``task``."""

    def best(self, scores: np.ndarray, nodes: np.ndarray) -> int:
        """The position in ``nodes`` of the highest score.

        Ties go to the node that comes first in an order drawn once per policy (per run): the
        reference simulator also lists nodes in a random order fixed for the run and takes the
        first best one. Always preferring the same nodes among equals packs them; breaking each
        tie afresh at random spreads work and strands GPU shares.
        """
        if self._rank is None or self._rank.size <= int(nodes.max(initial=0)):
            self._rank = self.rng.permutation(max(int(nodes.max(initial=0)) + 1, 1))
        top = np.flatnonzero(scores >= scores.max() - 1e-9)
        return int(top[np.argmin(self._rank[nodes[top]])])
