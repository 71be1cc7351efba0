"""``packing``: fill partly used GPUs first, then idle GPUs on nodes already in use, then empty nodes."""

from __future__ import annotations

import numpy as np

from blacksoil.scheduler.cluster import Cluster
from blacksoil.scheduler.placement.base import Choice, PlacementPolicy
from blacksoil.scheduler.types import MILLI, Task


class Packing(PlacementPolicy):
    name = "packing"

    def pick(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> Choice:
        if task.num_gpu == 0:
            return int(feasible[self.best(np.zeros(feasible.size), feasible)]), ()
        free = cluster.gpu_free[feasible]
        exists = free >= 0
        idle_gpus = (free == MILLI).sum(axis=1)
        in_use = (free < MILLI) & exists
        if task.shares_a_gpu:
            shared_fit = np.where(in_use & (free >= task.gpu_milli), free, MILLI + 1).min(axis=1)
        else:
            shared_fit = np.full(feasible.size, MILLI + 1)
        used_node = in_use.any(axis=1)
        score = np.where(
            shared_fit <= MILLI,
            np.maximum(100 - shared_fit / 10 / 10, 50),  # a partly used GPU that fits: the fuller, the better
            np.where(used_node, np.maximum(50 - task.num_gpu, 33), np.maximum(33 - idle_gpus, 0)),
        )
        node = int(feasible[self.best(score, feasible)])
        return node, cluster.default_gpus(node, task)
