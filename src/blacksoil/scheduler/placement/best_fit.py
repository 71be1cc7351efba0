"""``best_fit``: the node left with the least CPU and GPU once the task is on it (equal weights)."""

from __future__ import annotations

import numpy as np

from blacksoil.scheduler.cluster import Cluster, idle_gpu
from blacksoil.scheduler.placement.base import Choice, PlacementPolicy
from blacksoil.scheduler.types import Task

CPU_SCALE = 128_000
GPU_SCALE = 8_000


class BestFit(PlacementPolicy):
    name = "best_fit"

    def pick(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> Choice:
        cpu_left = (cluster.cpu_free[feasible] - task.cpu_milli) / CPU_SCALE
        gpu_left = (idle_gpu(cluster.gpu_free[feasible]) - task.gpu_total_milli) / GPU_SCALE
        node = int(feasible[self.best(-(0.5 * cpu_left + 0.5 * gpu_left), feasible)])
        return node, cluster.default_gpus(node, task)
