"""Fragmentation F(M) against a target workload, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from blacksoil.scheduler.cluster import Cluster
from blacksoil.scheduler.fragmentation import Workload, access_masks, fragmentation
from blacksoil.scheduler.types import MILLI, NodeSpec, Task

# one node: 4000 milli-CPU free, GPUs with 1000, 300 and 0 free, a fourth slot without a GPU
CPU = np.array([4000], dtype=np.int64)
GPU = np.array([[MILLI, 300, 0, -1]], dtype=np.int64)
IDLE = 1300.0
YES = [np.array([True])]


def frag(task: Task, cpu: np.ndarray = CPU, gpu: np.ndarray = GPU, access: list[np.ndarray] | None = None) -> float:
    wl = Workload(types=[task], weights=np.array([1.0]))
    out = fragmentation(cpu, gpu, wl, access if access is not None else [np.ones(len(cpu), dtype=bool)])
    assert out.shape == (len(cpu),)
    return float(out[0])


def test_cpu_only_type_counts_all_idle_gpu() -> None:
    assert frag(Task(1000, 0)) == IDLE


def test_share_type_that_fits_counts_gpus_with_less_free_than_its_demand() -> None:
    assert frag(Task(1000, 0, 1, 500)) == 300.0  # the 300-free GPU; the full GPU holds nothing idle
    assert frag(Task(1000, 0, 1, 200)) == 0.0  # 300 free is enough for it
    assert frag(Task(1000, 0, 1, 300)) == 0.0  # exactly enough is not a fragment


def test_whole_gpu_type_that_fits_counts_partly_used_gpus() -> None:
    assert frag(Task(1000, 0, 1, MILLI)) == 300.0


def test_type_that_does_not_fit_counts_all_idle_gpu() -> None:
    assert frag(Task(5000, 0, 1, 500)) == IDLE  # CPU short
    assert frag(Task(1000, 0, 2, MILLI)) == IDLE  # only one idle GPU
    gpu = np.array([[200, 300, 0, -1]], dtype=np.int64)
    assert frag(Task(1000, 0, 1, 500), gpu=gpu) == 500.0  # no GPU has 500 free


def test_model_access_false_counts_all_idle_gpu() -> None:
    assert frag(Task(1000, 0, 1, 500), access=[np.array([False])]) == IDLE


def test_weights_apply_per_type_and_rows_are_independent() -> None:
    wl = Workload(types=[Task(1000, 0), Task(1000, 0, 1, 500)], weights=np.array([0.25, 0.75]))
    cpu = np.array([4000, 500], dtype=np.int64)
    gpu = np.array([[MILLI, 300, 0, -1], [600, -1, -1, -1]], dtype=np.int64)
    out = fragmentation(cpu, gpu, wl, [np.array([True, True]), np.array([True, True])])
    # row 0: 0.25 * 1300 + 0.75 * 300; row 1: CPU short for the share type, so 600 either way
    np.testing.assert_allclose(out, [0.25 * 1300 + 0.75 * 300, 600.0])


def test_access_masks_follow_gpu_models() -> None:
    c = Cluster([NodeSpec("a", 1000, 1000, 1, "T4"), NodeSpec("b", 1000, 1000, 1, "V100")])
    wl = Workload(types=[Task(0, 0, 1, 500, frozenset({"V100"})), Task(0, 0, 1, 500)], weights=np.array([0.5, 0.5]))
    masks = access_masks(c, wl)
    assert [list(m) for m in masks] == [[False, True], [True, True]]


def test_workload_keeps_most_common_types_covering_95_percent() -> None:
    common = Task(1000, 111, 1, 500, name="x")
    second = Task(2000, 222, 2, MILLI)
    rare = Task(3000, 333)
    # memory and name do not make a new type
    tasks = [common] * 60 + [Task(1000, 999, 1, 500, name="y")] * 10 + [second] * 26 + [rare] * 4
    wl = Workload.from_tasks(tasks)
    assert [(t.cpu_milli, t.num_gpu, t.gpu_milli) for t in wl.types] == [(1000, 1, 500), (2000, 2, MILLI)]
    np.testing.assert_allclose(wl.weights, [70 / 96, 26 / 96])
    assert wl.weights.sum() == pytest.approx(1.0)


def test_workload_full_coverage_keeps_all_and_separates_models() -> None:
    tasks = [Task(1000, 0, 1, 500)] * 3 + [Task(1000, 0, 1, 500, frozenset({"T4"}))] + [Task(500, 0)] * 2
    wl = Workload.from_tasks(tasks, coverage=1.0)
    assert [(t.cpu_milli, t.num_gpu, t.gpu_milli, t.gpu_models) for t in wl.types] == [
        (1000, 1, 500, frozenset()),
        (500, 0, 0, frozenset()),
        (1000, 1, 500, frozenset({"T4"})),
    ]
    np.testing.assert_allclose(wl.weights, [3 / 6, 2 / 6, 1 / 6])
    assert wl.weights.sum() == pytest.approx(1.0)
