"""``clustering``: put a task with tasks of its own kind (shared-GPU with shared-GPU, 2-GPU with
2-GPU …), preferring the busier node among equals."""

from __future__ import annotations

import numpy as np

from blacksoil.scheduler.cluster import Cluster, affinity, idle_gpu
from blacksoil.scheduler.placement.base import Choice, PlacementPolicy
from blacksoil.scheduler.placement.best_fit import GPU_SCALE
from blacksoil.scheduler.types import Task


class Clustering(PlacementPolicy):
    name = "clustering"

    def pick(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> Choice:
        if task.num_gpu == 0:
            return int(feasible[self.best(np.zeros(feasible.size), feasible)]), ()
        tag = affinity(task)
        base = np.empty(feasible.size)
        for i, node in enumerate(feasible):
            kinds = {k for k, n in cluster.tags[node].items() if n > 0}
            base[i] = 25.0 if not kinds else 75.0 if kinds == {tag} else 50.0 if tag in kinds else 0.0
        fill = 25 * (GPU_SCALE - idle_gpu(cluster.gpu_free[feasible])) / GPU_SCALE
        node = int(feasible[self.best(base + fill, feasible)])
        return node, cluster.default_gpus(node, task)
