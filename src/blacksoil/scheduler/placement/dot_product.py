"""``dot_product``: Tetris-style alignment: the node whose free (CPU, GPU) vector, scaled to the
largest node, has the smallest dot product with the task's demand."""

from __future__ import annotations

import numpy as np

from blacksoil.scheduler.cluster import Cluster, idle_gpu
from blacksoil.scheduler.placement.base import Choice, PlacementPolicy
from blacksoil.scheduler.placement.best_fit import CPU_SCALE, GPU_SCALE
from blacksoil.scheduler.types import Task


class DotProduct(PlacementPolicy):
    name = "dot_product"

    def pick(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> Choice:
        cpu = cluster.cpu_free[feasible] / CPU_SCALE * (task.cpu_milli / CPU_SCALE)
        gpu = idle_gpu(cluster.gpu_free[feasible]) / GPU_SCALE * (task.gpu_total_milli / GPU_SCALE)
        node = int(feasible[self.best(-(cpu + gpu), feasible)])
        return node, cluster.default_gpus(node, task)
