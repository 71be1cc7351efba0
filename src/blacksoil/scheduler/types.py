"""What crosses the scheduler's boundary: resource requests and the nodes that hold them."""

from __future__ import annotations

from dataclasses import dataclass

MILLI = 1000
"""One whole GPU (or CPU) in milli-units."""


@dataclass(frozen=True, slots=True)
class Task:
    """One pod's request. ``num_gpu == 1`` with ``gpu_milli < 1000`` is a share of one GPU;
    ``num_gpu >= 1`` with ``gpu_milli == 1000`` is that many whole GPUs; ``num_gpu == 0`` uses no GPU."""

    cpu_milli: int
    memory_mib: int
    num_gpu: int = 0
    gpu_milli: int = 0
    gpu_models: frozenset[str] = frozenset()
    """GPU models the task may run on; empty: any."""
    name: str = ""

    @property
    def gpu_total_milli(self) -> int:
        """The GPU it asks for in all, in milli-GPUs."""
        return self.num_gpu * self.gpu_milli if self.num_gpu else 0

    @property
    def shares_a_gpu(self) -> bool:
        return self.num_gpu == 1 and self.gpu_milli < MILLI


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    gpu_model: str = ""
