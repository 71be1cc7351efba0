"""The cluster's free resources as arrays, so that a policy scores every node at once.

Per node: free CPU (milli), free memory (MiB), the GPU model, and per GPU slot its free share in
milli-GPUs (1000 = idle, 0 = full, -1 = no GPU in that slot). A task that shares a GPU takes
``gpu_milli`` of one GPU; a task of whole GPUs takes that many idle ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from blacksoil.scheduler.types import MILLI, NodeSpec, Task

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
NO_GPU = -1


@dataclass(frozen=True, slots=True)
class Placement:
    task: Task
    node: int
    gpus: tuple[int, ...]
    """GPU slots used (one for a shared GPU, ``num_gpu`` for whole GPUs, none for CPU-only)."""


class Cluster:
    def __init__(self, nodes: Sequence[NodeSpec]) -> None:
        self.nodes = list(nodes)
        n = len(self.nodes)
        slots = max((s.gpus for s in self.nodes), default=0) or 1
        self.cpu_free: IntArray = np.array([s.cpu_milli for s in self.nodes], dtype=np.int64)
        self.mem_free: IntArray = np.array([s.memory_mib for s in self.nodes], dtype=np.int64)
        self.gpu_free: IntArray = np.full((n, slots), NO_GPU, dtype=np.int64)
        for i, s in enumerate(self.nodes):
            self.gpu_free[i, : s.gpus] = MILLI
        self.models = sorted({s.gpu_model for s in self.nodes})
        self.model_of: IntArray = np.array([self.models.index(s.gpu_model) for s in self.nodes], dtype=np.int64)
        self.gpu_capacity = int(sum(s.gpus for s in self.nodes) * MILLI)
        self.version: IntArray = np.zeros(n, dtype=np.int64)
        """Per node, bumped on every change: lets a policy cache per-node figures."""
        self.tags: list[Counter[str]] = [Counter() for _ in self.nodes]
        """Per node, how many tasks of each kind it runs ('share-gpu', '2-gpu', …; see :func:`affinity`)."""

    @property
    def gpu_allocated(self) -> int:
        free = self.gpu_free[self.gpu_free > 0].sum()
        return self.gpu_capacity - int(free)

    def model_mask(self, task: Task) -> BoolArray:
        if not task.gpu_models:
            return np.ones(len(self.nodes), dtype=bool)
        allowed = [i for i, m in enumerate(self.models) if m in task.gpu_models]
        return np.asarray(np.isin(self.model_of, allowed), dtype=bool)

    def feasible(self, task: Task) -> BoolArray:
        """Nodes with room for ``task``."""
        ok = (self.cpu_free >= task.cpu_milli) & (self.mem_free >= task.memory_mib)
        if task.num_gpu == 0:
            return ok
        ok &= self.model_mask(task)
        if task.shares_a_gpu:
            gpu_ok = (self.gpu_free >= task.gpu_milli).any(axis=1)
        else:
            gpu_ok = (self.gpu_free == MILLI).sum(axis=1) >= task.num_gpu
        return np.asarray(ok & gpu_ok, dtype=bool)

    def place(self, node: int, task: Task, gpus: Sequence[int]) -> Placement:
        gpus = tuple(int(g) for g in gpus)
        self.cpu_free[node] -= task.cpu_milli
        self.mem_free[node] -= task.memory_mib
        self.version[node] += 1
        for g in gpus:
            self.gpu_free[node, g] -= task.gpu_milli
        if task.num_gpu:
            self.tags[node][affinity(task)] += 1
        return Placement(task, node, gpus)

    def release(self, placement: Placement) -> None:
        t, node = placement.task, placement.node
        self.cpu_free[node] += t.cpu_milli
        self.mem_free[node] += t.memory_mib
        self.version[node] += 1
        for g in placement.gpus:
            self.gpu_free[node, g] += t.gpu_milli
        if t.num_gpu:
            self.tags[node][affinity(t)] -= 1

    def default_gpus(self, node: int, task: Task) -> tuple[int, ...]:
        """A GPU choice on ``node``: the fullest GPU that still fits a share (best fit); idle GPUs in order."""
        if task.num_gpu == 0:
            return ()
        free = self.gpu_free[node]
        if task.shares_a_gpu:
            fits = np.nonzero(free >= task.gpu_milli)[0]
            return (int(fits[np.argmin(free[fits])]),)
        return tuple(int(g) for g in np.nonzero(free == MILLI)[0][: task.num_gpu])


def affinity(task: Task) -> str:
    """The kind of GPU demand a task has, for clustering like with like."""
    return "share-gpu" if task.shares_a_gpu else f"{task.num_gpu}-gpu"


def idle_gpu(gpu_free: IntArray) -> IntArray:
    """Per row, the idle GPU share in milli (slots without a GPU count 0)."""
    return np.asarray(np.where(gpu_free > 0, gpu_free, 0).sum(axis=-1), dtype=np.int64)
