"""GPU fragmentation of a node with respect to a target workload (FGD, ATC'23), over arrays.

A node's idle GPU share is a *fragment* for a task type when that task could not use it:

* the task cannot be placed on the node at all (too few GPUs with enough free share, too little
  CPU, the wrong GPU model), or it uses no GPU: every idle share on the node is a fragment;
* the task fits: the idle share of each GPU with less free than the task's per-GPU demand is a
  fragment (for whole-GPU tasks, every partly used GPU).

The workload is the popular task types of a pod list (by CPU, per-GPU share, GPU count and
accepted models; memory does not count), each weighted by its share of pods. A node's
fragmentation is the weighted sum over types; FGD places each task where it grows the least.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from blacksoil.scheduler.cluster import Cluster
from blacksoil.scheduler.types import MILLI, Task

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Workload:
    """Task types and their weights (summing to 1)."""

    types: list[Task]
    weights: FloatArray

    @classmethod
    def from_tasks(cls, tasks: Sequence[Task], coverage: float = 0.95) -> Workload:
        """The most common types that together cover ``coverage`` of the tasks, reweighted to sum to 1."""
        counts = Counter((t.cpu_milli, t.gpu_milli if t.num_gpu else 0, t.num_gpu, t.gpu_models) for t in tasks)
        ranked = counts.most_common()
        kept, covered = [], 0
        for key, count in ranked:
            kept.append((key, count))
            covered += count
            if covered >= coverage * len(tasks):
                break
        types = [Task(cpu, 0, n, milli, models) for (cpu, milli, n, models), _ in kept]
        weights = np.array([c for _, c in kept], dtype=np.float64)
        return cls(types, weights / weights.sum())


def fragmentation(cpu_free: IntArray, gpu_free: IntArray, workload: Workload, access: list[npt.NDArray[np.bool_]]
                  ) -> FloatArray:  # fmt: skip
    """F(M) per row: ``cpu_free[r]`` and ``gpu_free[r, :]`` (-1 marks no GPU) describe a node state.

    ``access[m][r]`` says whether row r's GPU model suits type m.
    """
    idle = np.where(gpu_free > 0, gpu_free, 0)
    idle_total = idle.sum(axis=1).astype(np.float64)
    total = np.zeros(len(cpu_free), dtype=np.float64)
    by_need: dict[int, tuple[IntArray, IntArray]] = {}  # per-GPU demand -> (GPUs that fit, idle they strand)
    for m, (task, weight) in enumerate(zip(workload.types, workload.weights, strict=True)):
        if task.num_gpu == 0:
            total += weight * idle_total
            continue
        need = task.gpu_milli if task.shares_a_gpu else MILLI
        if need not in by_need:
            small = gpu_free < need
            by_need[need] = ((~small).sum(axis=1), np.where(small, idle, 0).sum(axis=1))
        fitting_gpus, stranded = by_need[need]
        fits = (fitting_gpus >= task.num_gpu) & (cpu_free >= task.cpu_milli) & access[m]
        total += weight * np.where(fits, stranded, idle_total)
    return total


def access_masks(cluster: Cluster, workload: Workload) -> list[npt.NDArray[np.bool_]]:
    """Per task type, which nodes carry a GPU model it accepts."""
    return [cluster.model_mask(t) for t in workload.types]
