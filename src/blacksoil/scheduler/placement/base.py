"""The placement interface: choose a node, and the GPUs on it, for one task.

Policies see the cluster's arrays and the feasible nodes; they return the node and GPU slots,
or None when nothing fits. They keep no state between calls except a seeded random generator,
so a simulation is reproducible and the same class runs in the simulator and in the scheduler.
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

    def choose(self, cluster: Cluster, task: Task) -> Choice | None:
        feasible = np.nonzero(cluster.feasible(task))[0]
        if feasible.size == 0:
            return None
        return self.pick(cluster, task, feasible)

    @abstractmethod
    def pick(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> Choice:
        """Among ``feasible`` node indices (non-empty), the node and GPU slots for ``task``."""

    def best(self, scores: np.ndarray, feasible: np.ndarray) -> int:
        """The feasible node with the highest score; ties broken at random."""
        top = np.flatnonzero(scores >= scores.max() - 1e-9)
        return int(feasible[top[self.rng.integers(top.size)]])
