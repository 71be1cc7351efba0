"""The FGD fragmentation experiment: inflation, the run loop, checkpoints and summaries."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from blacksoil.scheduler.errors import SchedulerError
from blacksoil.scheduler.sim.inflation import CHECKPOINTS, Run, inflate, run, summarize
from blacksoil.scheduler.types import MILLI, NodeSpec, Task

PODS = [
    Task(1000, 1024, 1, 500, name="p0"),
    Task(2000, 1024, 1, 250, name="p1"),
    Task(1000, 1024, 2, MILLI, name="p2"),
    Task(4000, 1024, name="p3"),
    Task(1000, 1024, 1, MILLI, name="p4"),
    Task(500, 1024, 1, 700, name="p5"),
]
NODES = [NodeSpec("a", 16000, 65536, 4, "T4"), NodeSpec("b", 8000, 65536, 2, "T4"), NodeSpec("c", 8000, 65536, 0)]
CAPACITY = 6 * MILLI


def test_inflate_is_reproducible_per_seed() -> None:
    a = inflate(PODS, CAPACITY, 1.3, np.random.default_rng(7))
    b = inflate(PODS, CAPACITY, 1.3, np.random.default_rng(7))
    c = inflate(PODS, CAPACITY, 1.3, np.random.default_rng(8))
    assert a == b
    assert a != c


def test_inflate_keeps_every_original_pod_first() -> None:
    out = inflate(PODS, CAPACITY, 1.3, np.random.default_rng(0))
    assert sorted(t.name for t in out[: len(PODS)]) == sorted(t.name for t in PODS)
    assert len(out) > len(PODS)
    counts = Counter(t.name for t in out)
    assert all(counts[t.name] >= 1 for t in PODS)
    assert set(out) <= set(PODS)


def test_inflate_is_independent_of_input_order() -> None:
    a = inflate(PODS, CAPACITY, 1.3, np.random.default_rng(3))
    b = inflate(list(reversed(PODS)), CAPACITY, 1.3, np.random.default_rng(3))
    assert a == b


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("factor", [1.0, 1.3, 2.0])
def test_inflate_stops_before_per_gpu_demand_passes_the_limit(seed: int, factor: float) -> None:
    out = inflate(PODS, CAPACITY, factor, np.random.default_rng(seed))
    total = sum(t.gpu_milli for t in out)
    limit = factor * CAPACITY
    assert total <= limit
    # it stopped at the first draw that would pass: no pod is larger than the gap left
    assert total > limit - max(t.gpu_milli for t in PODS)


def test_inflate_of_nothing_is_nothing() -> None:
    assert inflate([], CAPACITY, 1.3, np.random.default_rng(0)) == []


@pytest.mark.parametrize("policy", ["random", "best_fit", "fgd"])
def test_run_records_one_event_per_inflated_pod(policy: str) -> None:
    result = run(NODES, PODS, policy, seed=3)
    n = len(inflate(PODS, CAPACITY, 1.3, np.random.default_rng(3)))
    assert result.policy == policy and result.seed == 3
    assert result.placed + result.failed == n
    assert len(result.arrived) == len(result.unallocated) == n
    assert all(b >= a for a, b in zip(result.arrived, result.arrived[1:], strict=False))
    assert all(0.0 <= u <= 100.0 for u in result.unallocated)
    assert result.failed > 0  # demand reaches 130% of the GPU: something must be dropped
    assert result.unallocated[-1] < 100.0
    # every checkpoint crossed has a fragmentation rate in percent
    crossed = [p for p in CHECKPOINTS if result.arrived[-1] >= p]
    assert sorted(result.fragmentation) == crossed
    assert all(0.0 <= v <= 100.0 for v in result.fragmentation.values())


def test_run_is_reproducible_per_seed() -> None:
    a, b = run(NODES, PODS, "random", seed=5), run(NODES, PODS, "random", seed=5)
    assert (a.arrived, a.unallocated, a.failed, a.placed) == (b.arrived, b.unallocated, b.failed, b.placed)


def test_run_at_averages_events_rounding_to_the_checkpoint() -> None:
    r = Run("x", 0, arrived=[89.4, 89.6, 90.4, 91.2, 100.3], unallocated=[10.0, 20.0, 30.0, 40.0, 50.0])
    assert r.at(90) == pytest.approx(25.0)  # 89.6 and 90.4 round to 90
    assert r.at(89) == pytest.approx(10.0)
    assert r.at(99) == pytest.approx(50.0)  # none at 99: falls back to 100
    assert r.at(101) == pytest.approx(50.0)  # none at 101 or 102: falls back to 100
    assert math.isnan(r.at(130))


def test_summarize_gives_medians_across_runs() -> None:
    runs = []
    for seed, (u, f) in enumerate([(10.0, 40.0), (30.0, 20.0), (20.0, 60.0)]):
        r = Run("x", seed, arrived=[90.0, 100.0, 130.0], unallocated=[u, u + 1, u + 2], failed=seed * 2)
        r.fragmentation = {90: f, 100: f + 1}
        runs.append(r)
    out = summarize(runs)
    assert out["unallocated_at_90"] == 20.0
    assert out["unallocated_at_100"] == 21.0
    assert out["unallocated_at_130"] == 22.0
    assert out["fragmentation_rate_at_90"] == 40.0
    assert out["fragmentation_rate_at_100"] == 41.0
    assert "fragmentation_rate_at_130" not in out
    assert out["failed_pods"] == 2


def test_a_pod_list_without_gpu_demand_is_not_inflated_forever() -> None:
    pods = [Task(1000, 1, name="cpu-a"), Task(2000, 1, name="cpu-b")]
    assert sorted(t.name for t in inflate(pods, 1000, 1.3, np.random.default_rng(0))) == ["cpu-a", "cpu-b"]


def test_a_cluster_without_gpus_is_refused() -> None:
    with pytest.raises(SchedulerError, match="cluster with GPUs"):
        run([NodeSpec("cpu-only", 1000, 1000, 0)], [Task(100, 1, 1, 500, name="p")], "random", 0)
