"""Cluster: feasibility, place/release, accounting, default GPU choice and affinity tags."""

from __future__ import annotations

import numpy as np

from blacksoil.scheduler.cluster import NO_GPU, Cluster, affinity, idle_gpu
from blacksoil.scheduler.types import MILLI, NodeSpec, Task


def two_nodes() -> Cluster:
    return Cluster(
        [
            NodeSpec("a", cpu_milli=8000, memory_mib=16384, gpus=2, gpu_model="V100"),
            NodeSpec("b", cpu_milli=4000, memory_mib=8192, gpus=4, gpu_model="T4"),
            NodeSpec("c", cpu_milli=16000, memory_mib=32768, gpus=0),
        ]
    )


def test_arrays_start_idle_with_no_gpu_slots_marked() -> None:
    c = two_nodes()
    assert c.gpu_free.shape == (3, 4)
    assert list(c.gpu_free[0]) == [MILLI, MILLI, NO_GPU, NO_GPU]
    assert list(c.gpu_free[1]) == [MILLI] * 4
    assert list(c.gpu_free[2]) == [NO_GPU] * 4
    assert list(c.cpu_free) == [8000, 4000, 16000]
    assert list(c.mem_free) == [16384, 8192, 32768]
    assert c.gpu_capacity == 6 * MILLI
    assert c.gpu_allocated == 0
    assert list(idle_gpu(c.gpu_free)) == [2000, 4000, 0]


def test_cpu_only_feasibility_follows_cpu_and_memory() -> None:
    c = two_nodes()
    assert list(c.feasible(Task(4000, 8192))) == [True, True, True]
    assert list(c.feasible(Task(5000, 1024))) == [True, False, True]  # CPU short on b
    assert list(c.feasible(Task(1000, 20000))) == [False, False, True]  # memory short on a, b
    assert list(c.feasible(Task(20000, 1))) == [False, False, False]


def test_share_needs_one_gpu_with_enough_free_share() -> None:
    c = two_nodes()
    c.gpu_free[0] = [300, 400, NO_GPU, NO_GPU]
    c.gpu_free[1] = [0, 0, 0, 600]
    assert list(c.feasible(Task(100, 100, 1, 400))) == [True, True, False]
    assert list(c.feasible(Task(100, 100, 1, 500))) == [False, True, False]
    assert list(c.feasible(Task(100, 100, 1, 700))) == [False, False, False]
    # the sum of two GPUs' free share does not make one
    assert not c.feasible(Task(100, 100, 1, 700))[0]


def test_whole_gpu_needs_that_many_idle_gpus() -> None:
    c = two_nodes()
    c.gpu_free[1] = [MILLI, 999, MILLI, MILLI]
    assert list(c.feasible(Task(100, 100, 2, MILLI))) == [True, True, False]
    assert list(c.feasible(Task(100, 100, 3, MILLI))) == [False, True, False]
    assert list(c.feasible(Task(100, 100, 4, MILLI))) == [False, False, False]
    assert list(c.feasible(Task(100, 100, 1, MILLI))) == [True, True, False]


def test_gpu_task_also_needs_cpu_and_memory() -> None:
    c = two_nodes()
    assert list(c.feasible(Task(6000, 100, 1, 500))) == [True, False, False]
    assert list(c.feasible(Task(100, 10000, 1, MILLI))) == [True, False, False]


def test_gpu_models_constrain_nodes() -> None:
    c = two_nodes()
    assert list(c.feasible(Task(100, 100, 1, 500, frozenset({"T4"})))) == [False, True, False]
    assert list(c.feasible(Task(100, 100, 1, MILLI, frozenset({"V100", "A100"})))) == [True, False, False]
    assert list(c.feasible(Task(100, 100, 1, 500, frozenset({"A100"})))) == [False, False, False]
    assert list(c.model_mask(Task(100, 100, 1, 500))) == [True, True, True]
    # a CPU-only task ignores the model list
    assert list(c.feasible(Task(100, 100, 0, 0, frozenset({"A100"})))) == [True, True, True]


def test_place_release_round_trip_restores_every_array() -> None:
    c = two_nodes()
    before = (c.cpu_free.copy(), c.mem_free.copy(), c.gpu_free.copy())
    tasks = [
        (0, Task(1000, 2048, 1, 300), (1,)),
        (1, Task(500, 1024, 3, MILLI), (0, 2, 3)),
        (2, Task(2000, 4096), ()),
        (0, Task(1000, 2048, 1, 200), (1,)),
    ]
    placements = [c.place(n, t, g) for n, t, g in tasks]
    assert list(c.cpu_free) == [6000, 3500, 14000]
    assert list(c.mem_free) == [16384 - 4096, 8192 - 1024, 32768 - 4096]
    assert list(c.gpu_free[0]) == [MILLI, 500, NO_GPU, NO_GPU]
    assert list(c.gpu_free[1]) == [0, MILLI, 0, 0]
    assert c.gpu_allocated == 500 + 3 * MILLI
    assert placements[1].gpus == (0, 2, 3) and placements[1].node == 1
    for p in reversed(placements):
        c.release(p)
    np.testing.assert_array_equal(c.cpu_free, before[0])
    np.testing.assert_array_equal(c.mem_free, before[1])
    np.testing.assert_array_equal(c.gpu_free, before[2])
    assert c.gpu_allocated == 0
    assert all(n == 0 for tags in c.tags for n in tags.values())


def test_gpu_allocated_ignores_empty_slots_and_counts_full_gpus() -> None:
    c = two_nodes()
    c.gpu_free[0] = [0, 250, NO_GPU, NO_GPU]
    assert c.gpu_allocated == MILLI + 750
    assert c.gpu_capacity == 6000


def test_default_gpus_share_takes_fullest_gpu_that_fits() -> None:
    c = two_nodes()
    c.gpu_free[1] = [MILLI, 300, 500, 200]
    assert c.default_gpus(1, Task(100, 100, 1, 300)) == (1,)
    assert c.default_gpus(1, Task(100, 100, 1, 400)) == (2,)
    assert c.default_gpus(1, Task(100, 100, 1, 600)) == (0,)
    assert c.default_gpus(1, Task(100, 100)) == ()


def test_default_gpus_whole_takes_lowest_index_idle_gpus() -> None:
    c = two_nodes()
    c.gpu_free[1] = [500, MILLI, 0, MILLI]
    assert c.default_gpus(1, Task(100, 100, 1, MILLI)) == (1,)
    assert c.default_gpus(1, Task(100, 100, 2, MILLI)) == (1, 3)
    c.gpu_free[1] = [MILLI] * 4
    assert c.default_gpus(1, Task(100, 100, 3, MILLI)) == (0, 1, 2)


def test_affinity_tags_counted_on_place_and_release() -> None:
    c = two_nodes()
    share, two = Task(100, 100, 1, 500), Task(100, 100, 2, MILLI)
    assert affinity(share) == "share-gpu" and affinity(two) == "2-gpu"
    assert affinity(Task(100, 100, 1, MILLI)) == "1-gpu"
    p1 = c.place(1, share, (0,))
    p2 = c.place(1, share, (0,))
    p3 = c.place(1, two, (1, 2))
    c.place(2, Task(100, 100), ())
    assert c.tags[1]["share-gpu"] == 2 and c.tags[1]["2-gpu"] == 1
    assert sum(c.tags[2].values()) == 0  # CPU-only tasks carry no tag
    c.release(p1)
    c.release(p3)
    assert c.tags[1]["share-gpu"] == 1 and c.tags[1]["2-gpu"] == 0
    c.release(p2)
    assert c.tags[1]["share-gpu"] == 0
