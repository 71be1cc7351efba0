"""``fgd``: fragmentation gradient descent (Weng et al., ATC'23).

For every feasible node, and on it every distinct GPU a shared-GPU task could take, compute how
much the node's fragmentation with respect to the target workload grows if the task goes there
(:mod:`blacksoil.scheduler.fragmentation`), and choose the smallest growth. As in the reference
simulator, the growth is squashed to an integer score (``int(100 * sigmoid(-growth / 1000))``),
and among equal scores the node first in the run's fixed node order wins.

``fgd_fine`` ranks by the exact growth instead. It is kept because it measures worse (about 5.9%
of the GPU left unallocated against 4.7%, see docs/scheduler.md): much of FGD's gain comes from
its coarse score letting the fixed order pack near-equal choices onto the same nodes.
"""

from __future__ import annotations

import numpy as np

from blacksoil.scheduler.cluster import Cluster
from blacksoil.scheduler.fragmentation import Workload, access_masks, fragmentation
from blacksoil.scheduler.placement.base import Choice, PlacementPolicy
from blacksoil.scheduler.types import MILLI, Task

_MIX = np.random.default_rng(0x5EED).integers(1, 2**63, size=64, dtype=np.uint64) | np.uint64(1)


class FGD(PlacementPolicy):
    name = "fgd"

    def __init__(self, rng: np.random.Generator, workload: Workload) -> None:
        super().__init__(rng)
        self.workload = workload
        self._access: tuple[Cluster, list[np.ndarray]] | None = None
        self._cache: tuple[Cluster, np.ndarray, np.ndarray] | None = None

    def pick(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> Choice:
        access = self._masks(cluster)
        nodes, slots = self._candidates(cluster, task, feasible)
        cpu = cluster.cpu_free[nodes] - task.cpu_milli
        gpu = cluster.gpu_free[nodes].copy()
        rows = np.arange(nodes.size)
        for k in range(slots.shape[1]):
            gpu[rows, slots[:, k]] -= task.gpu_milli
        growth = self._after(cpu, gpu, cluster.model_of[nodes], access, nodes) - self._before(cluster, access)[nodes]
        score = self.score(growth, gpu)
        best = self.best(score, nodes)
        return int(nodes[best]), tuple(int(g) for g in slots[best]) if task.num_gpu else ()

    def score(self, growth: np.ndarray, gpu_after: np.ndarray) -> np.ndarray:
        """Higher is better: the reference's integer score of the fragmentation growth."""
        return np.floor(100.0 / (1.0 + np.exp(growth / 1000.0)))

    def _candidates(self, cluster: Cluster, task: Task, feasible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(node, GPU slots) pairs to score: every distinct fitting GPU for a share, else one per node."""
        if task.num_gpu == 0:
            return feasible, np.zeros((feasible.size, 0), dtype=np.int64)
        free = cluster.gpu_free[feasible]
        if not task.shares_a_gpu:
            idle = free == MILLI
            first = np.argsort(~idle, axis=1, kind="stable")[:, : task.num_gpu]  # lowest-index idle GPUs
            return feasible, first
        fits = free >= task.gpu_milli
        # one GPU per distinct free amount on a node: equal GPUs give equal fragmentation
        sorted_free = np.where(fits, free, -1)
        node_idx, slot = np.nonzero(fits)
        keep = np.ones(node_idx.size, dtype=bool)
        values = sorted_free[node_idx, slot]
        key = node_idx * (MILLI + 2) + values
        _, first_of_key = np.unique(key, return_index=True)
        keep[:] = False
        keep[first_of_key] = True
        return feasible[node_idx[keep]], slot[keep][:, None]

    def _before(self, cluster: Cluster, access: list[np.ndarray]) -> np.ndarray:
        """Every node's fragmentation now, recomputed only for the nodes changed since the last call."""
        if self._cache is None or self._cache[0] is not cluster:
            self._cache = (cluster, np.full(len(cluster.nodes), -1, dtype=np.int64), np.zeros(len(cluster.nodes)))
        _, seen, values = self._cache
        stale = np.flatnonzero(seen != cluster.version)
        if stale.size:
            masks = [a[stale] for a in access]
            values[stale] = fragmentation(cluster.cpu_free[stale], cluster.gpu_free[stale], self.workload, masks)
            seen[stale] = cluster.version[stale]
        return values

    def _after(
        self, cpu: np.ndarray, gpu: np.ndarray, model: np.ndarray, access: list[np.ndarray], nodes: np.ndarray
    ) -> np.ndarray:
        """Fragmentation of the candidate states, computed once per distinct state.

        Fragmentation ignores which slot a GPU is in, so states are compared with sorted GPUs."""
        state = np.column_stack([cpu, model, np.sort(gpu, axis=1)])
        # one 64-bit hash per state row (random odd multipliers, wrapping): sorting ints beats sorting rows
        key = (state.astype(np.uint64) * _MIX[: state.shape[1]]).sum(axis=1, dtype=np.uint64)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        masks = [a[nodes[first]] for a in access]
        values = fragmentation(state[first, 0], state[first, 2:], self.workload, masks)
        return np.asarray(values[inverse.reshape(-1)], dtype=np.float64)

    def _masks(self, cluster: Cluster) -> list[np.ndarray]:
        if self._access is None or self._access[0] is not cluster:
            self._access = (cluster, access_masks(cluster, self.workload))
        return self._access[1]


class FineFGD(FGD):
    name = "fgd_fine"

    def score(self, growth: np.ndarray, gpu_after: np.ndarray) -> np.ndarray:
        """The exact growth (equal growths tie, as in the base rule)."""
        return np.asarray(-np.round(growth, 6), dtype=np.float64)
