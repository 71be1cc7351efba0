"""``random``: any node that fits, any GPU that fits (the baseline every policy must beat)."""

from __future__ import annotations

import numpy as np

from blacksoil.scheduler.cluster import Cluster
from blacksoil.scheduler.placement.base import Choice, PlacementPolicy
from blacksoil.scheduler.types import MILLI, Task


class RandomFit(PlacementPolicy):
    name = "random"

    def pick(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> Choice:
        node = int(feasible[self.rng.integers(feasible.size)])
        free = cluster.gpu_free[node]
        if task.num_gpu == 0:
            return node, ()
        need = task.gpu_milli if task.shares_a_gpu else MILLI
        fits = np.flatnonzero(free >= need)
        return node, tuple(int(g) for g in self.rng.choice(fits, size=task.num_gpu, replace=False))
