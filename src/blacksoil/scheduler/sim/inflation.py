"""The fragmentation experiment of FGD (ATC'23): inflate a pod list until the GPU it asks for
reaches 130% of the cluster's, place each pod as it arrives, and watch how much GPU stays idle.

Protocol (as the reference simulator runs it):

* the pods, in name order, are shuffled with the seed; then copies drawn at random from the list
  are appended until the next would push the arrived demand past ``inflate`` x the cluster's GPU
  (counting each pod's per-GPU share, as the reference does);
* pods arrive one by one and never leave; a pod that fits nowhere is dropped;
* after each pod: the arrived GPU demand and the allocated GPU, as shares of the cluster's GPU;
* the figure at X% arrived is the mean unallocated share over the pods after which the arrived
  demand, rounded to a whole percent, is X (X±1 if none); across seeds, the median.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from blacksoil.scheduler.cluster import Cluster, idle_gpu
from blacksoil.scheduler.errors import SchedulerError
from blacksoil.scheduler.fragmentation import Workload, access_masks, fragmentation
from blacksoil.scheduler.placement import make_policy
from blacksoil.scheduler.types import NodeSpec, Task

CHECKPOINTS = (90, 100, 130)


@dataclass
class Run:
    policy: str
    seed: int
    arrived: list[float] = field(default_factory=list)
    """Arrived GPU demand / cluster GPU, after each pod (percent)."""
    unallocated: list[float] = field(default_factory=list)
    """Idle GPU / cluster GPU, after each pod (percent)."""
    failed: int = 0
    placed: int = 0
    fragmentation: dict[int, float] = field(default_factory=dict)
    """At each checkpoint: fragmented GPU / idle GPU (percent), measured when first crossed."""

    def at(self, percent: int) -> float:
        rounded = np.rint(np.asarray(self.arrived))
        values = np.asarray(self.unallocated)
        for delta in (0, 1, -1):
            hit = rounded == percent + delta
            if hit.any():
                return float(values[hit].mean())
        return float("nan")


def inflate(pods: Sequence[Task], capacity_milli: int, factor: float, rng: np.random.Generator) -> list[Task]:
    order = sorted(pods, key=lambda t: t.name)
    rng.shuffle(order)
    total = sum(t.gpu_milli for t in order)
    limit = factor * capacity_milli
    if not any(t.gpu_milli for t in pods):
        return order  # no GPU demand to inflate with
    while True:
        extra = order[int(rng.integers(len(pods)))]
        if total + extra.gpu_milli > limit:
            return order
        order.append(extra)
        total += extra.gpu_milli


def run(nodes: Sequence[NodeSpec], pods: Sequence[Task], policy: str, seed: int, factor: float = 1.3) -> Run:
    rng = np.random.default_rng(seed)
    cluster = Cluster(nodes)
    if cluster.gpu_capacity == 0:
        raise SchedulerError("the fragmentation experiment needs a cluster with GPUs")
    workload = Workload.from_tasks(pods)
    placer = make_policy(policy, np.random.default_rng(seed + 1), workload)
    access = access_masks(cluster, workload)
    result = Run(policy, seed)
    capacity = cluster.gpu_capacity
    arrived = 0
    next_checkpoint = 0
    for task in inflate(pods, capacity, factor, rng):
        arrived += task.gpu_total_milli
        choice = placer.choose(cluster, task)
        if choice is None:
            result.failed += 1
        else:
            cluster.place(choice[0], task, choice[1])
            result.placed += 1
        result.arrived.append(100.0 * arrived / capacity)
        result.unallocated.append(100.0 - 100.0 * cluster.gpu_allocated / capacity)
        while next_checkpoint < len(CHECKPOINTS) and result.arrived[-1] >= CHECKPOINTS[next_checkpoint]:
            frag = fragmentation(cluster.cpu_free, cluster.gpu_free, workload, access).sum()
            idle = idle_gpu(cluster.gpu_free).sum()
            result.fragmentation[CHECKPOINTS[next_checkpoint]] = float(100.0 * frag / idle) if idle else 0.0
            next_checkpoint += 1
    return result


def summarize(runs: Sequence[Run]) -> dict[str, float]:
    """Medians across seeds of the unallocated GPU share and the fragmentation rate at each checkpoint."""
    out: dict[str, float] = {}
    for p in CHECKPOINTS:
        out[f"unallocated_at_{p}"] = round(statistics.median(r.at(p) for r in runs), 2)
        rates = [r.fragmentation[p] for r in runs if p in r.fragmentation]
        if rates:
            out[f"fragmentation_rate_at_{p}"] = round(statistics.median(rates), 2)
    out["failed_pods"] = statistics.median(r.failed for r in runs)
    return out
