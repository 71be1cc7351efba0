"""The trace simulator on tiny hand-made traces: hit accounting, bounds, policies, sharing, routing, TTFT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blacksoil.kvpool.policies import LRU
from blacksoil.kvpool.pool import KVPool
from blacksoil.kvpool.routing import choose, score
from blacksoil.kvpool.routing_sim import PrefillModel, percentile, simulate, time_scale_for
from blacksoil.kvpool.simulator import (
    TraceCache,
    TraceRequest,
    hit_rate,
    infinite_bound,
    load_trace,
    local_vs_shared,
)
from blacksoil.kvpool.tiers import MemoryTier

BIG = 1 << 30


def req(ids: list[int], tokens: int | None = None, at_ms: int = 0) -> TraceRequest:
    """A prompt of full 512-token blocks unless ``tokens`` says how long it is."""
    return TraceRequest(at_ms, tokens if tokens is not None else 512 * len(ids), 10, tuple(ids))


def test_load_trace_reads_mooncake_lines_and_names_a_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rows = [{"timestamp": 0, "input_length": 700, "output_length": 5, "hash_ids": [1, 2]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (trace,) = load_trace(path)
    assert trace.hash_ids == (1, 2) and trace.keys == ((1).to_bytes(8, "big"), (2).to_bytes(8, "big"))
    path.write_text(path.read_text() + json.dumps({**rows[0], "hash_ids": [1]}) + "\n")
    with pytest.raises(ValueError, match="line 3"):
        load_trace(path)


def test_hits_count_a_partial_last_block_by_its_tokens() -> None:
    trace = [req([1, 2], 700), req([1, 2], 700), req([1, 3], 900)]
    assert [trace[0].block_size(i) for i in range(2)] == [512, 188]
    rate = hit_rate(trace, BIG, "lru")
    assert rate.input_tokens == 2300
    assert rate.hit_tokens == 700 + 512  # the whole second prompt; the third's first block
    assert rate.token_weighted == pytest.approx(1212 / 2300)
    assert rate.request_weighted == pytest.approx((0 + 1 + 512 / 900) / 3)


def test_infinite_bound_stops_at_the_first_unseen_block() -> None:
    trace = [req([1, 2]), req([3, 2]), req([1, 2, 4])]
    rate = infinite_bound(trace)
    assert rate.hit_tokens == 1024  # block 2 of the second prompt follows an unseen block: no hit
    assert hit_rate(trace, BIG, "lru").hit_tokens == rate.hit_tokens  # a pool that never evicts agrees


def test_cost_aware_keeps_the_frequent_block_that_lru_drops() -> None:
    # room for two blocks; block 1 is read twice, then two one-off blocks pass, then block 1 again
    trace = [req([1]), req([1]), req([1]), req([2]), req([3]), req([1])]
    lru, cost_aware = hit_rate(trace, 1024, "lru"), hit_rate(trace, 1024, "cost_aware")
    assert lru.hit_tokens == 2 * 512  # block 3 evicted block 1, read least recently
    assert cost_aware.hit_tokens == 3 * 512  # block 3 evicted block 2, read once


class RecordingLRU(LRU):
    def __init__(self) -> None:
        super().__init__()
        self.admitted: list[tuple[int, float]] = []

    def admit(self, key: bytes, size: int, cost: float) -> None:
        self.admitted.append((size, cost))
        super().admit(key, size, cost)


@pytest.mark.parametrize(("cost", "expected"), [("tokens", [512.0, 188.0]), ("depth", [512.0, 700.0])])
def test_a_block_hands_the_policy_its_tokens_or_its_depth_as_cost(cost: str, expected: list[float]) -> None:
    policy = RecordingLRU()
    cache = TraceCache(KVPool([MemoryTier("memory", BIG, policy)]), cost)
    cache.serve(req([1, 2], 700), cached_blocks=0)
    assert policy.admitted == [(512, expected[0]), (188, expected[1])]  # one byte per token
    with pytest.raises(ValueError, match="unknown block cost"):
        TraceCache(cache.pool, "bytes")


def test_a_shared_pool_hits_where_the_same_prefix_lands_on_another_replica() -> None:
    trace = [req([7, 8]), req([7, 8]), req([7, 8]), req([7, 8])]
    rates = local_vs_shared(trace, capacity_tokens=2 * 1024, policy="lru", replicas=2)
    assert rates["local"].hit_tokens == 2 * 1024  # round-robin: each replica computes the prefix once
    assert rates["shared"].hit_tokens == 3 * 1024


def test_routing_score_trades_cache_for_queue_and_breaks_ties_by_load_then_rotation() -> None:
    assert score(1024, 512, 1.0) == 512
    assert choose([1024, 0], [0, 0], 1.0) == 0
    assert choose([1024, 0], [2048, 0], 1.0) == 1  # the queue outweighs the cached prefix
    assert choose([512, 0], [512, 0], 1.0) == 1  # equal scores: the less loaded one
    assert choose([0, 0, 0], [0, 0, 0], 1.0, start=2) == 2
    with pytest.raises(ValueError, match="one cached"):
        choose([0], [0, 0], 1.0)


def test_ttft_of_two_requests_on_one_replica_by_hand() -> None:
    model = PrefillModel(tokens_per_s=1000, restore_s_per_block=0.01)
    trace = [req([1, 2], 1024, at_ms=0), req([1, 2, 3], 1200, at_ms=500)]
    result = simulate(trace, "least_loaded", [TraceCache.in_memory(BIG, "lru")], model, time_scale=1.0)
    # first: 1024 tokens from scratch, done at 1.024 s; second arrives at 0.5 s, waits 0.524 s,
    # then restores 2 blocks (0.02 s) and computes 176 tokens (0.176 s)
    assert result.ttft_s == pytest.approx([1.024, 0.524 + 0.02 + 0.176])
    assert result.hits.hit_tokens == 1024
    assert result.busy_s == pytest.approx(1.024 + 0.196) and result.end_s == pytest.approx(1.22)
    assert result.summary()["ttft_mean_s"] == pytest.approx((1.024 + 0.72) / 2, abs=1e-3)


def test_cache_aware_sends_a_repeated_prefix_to_the_replica_holding_it() -> None:
    model = PrefillModel(tokens_per_s=1000, restore_s_per_block=0.001)
    trace = [req([1, 2, 3, 4], at_ms=0), req([1, 2, 3, 4, 5], 2500, at_ms=20_000)]  # both replicas idle at 20 s
    runs = {}
    for router in ("round_robin", "cache_aware"):
        caches = [TraceCache.in_memory(BIG, "lru") for _ in range(2)]
        runs[router] = simulate(trace, router, caches, model, time_scale=1.0)
    rr, aware = runs["round_robin"], runs["cache_aware"]
    assert rr.assigned == [0, 1] and rr.hits.hit_tokens == 0
    assert aware.assigned == [0, 0] and aware.hits.hit_tokens == 2048
    assert rr.ttft_s == pytest.approx([2.048, 2.5])
    assert aware.ttft_s == pytest.approx([2.048, (2500 - 2048) / 1000 + 4 * 0.001])
    assert aware.summary()["ttft_mean_s"] < rr.summary()["ttft_mean_s"]


def test_time_scale_sets_the_utilisation_without_cache() -> None:
    model = PrefillModel(tokens_per_s=100, restore_s_per_block=0.0)
    trace = [req([1], at_ms=0), req([2], at_ms=10_000)]  # 1024 tokens = 10.24 s of work over 10 s
    scale = time_scale_for(trace, model, replicas=2, utilisation=0.5)
    assert scale == pytest.approx(10.24 / (2 * 10 * 0.5))
    with pytest.raises(ValueError, match="unknown router"):
        simulate(trace, "random", [TraceCache.in_memory(BIG, "lru")], model, scale)


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile(list(map(float, range(101))), 99) == pytest.approx(99.0)
    assert percentile([4.0], 99) == 4.0
