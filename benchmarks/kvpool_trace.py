"""Benchmark the KV pool's reuse, and cache-aware routing, on Mooncake's production chat trace.

Data: ``../shared/data/traces/mooncake/conversation_trace.jsonl`` (12,031 prompts over about an
hour; one hash id per 512-token block, equal ids = equal whole prefix). The real pool and
eviction policies run unchanged (:mod:`blacksoil.kvpool.simulator`): one memory tier, one byte
per token, the hash id as the key. Measured:

1. hit rate (token- and request-weighted) against pool capacity, per eviction policy: ``lru``,
   ``cost_aware`` with a block's cost = its tokens (what the llama.cpp connector passes), and
   ``cost_aware_depth`` with cost = the block's end position in the prompt (a tempting choice
   that fails: parents are evicted before the children that need them); next to the
   infinite cache (no eviction: the most any policy can reach) and a clairvoyant reference
   that admits only blocks used again and evicts the one needed furthest ahead (Belady's rule,
   computed here offline; with prefixes and partial blocks a strong reference, not a proof of
   optimality);
2. 8 replicas with local pools of C/8 each (requests round-robin) against one shared pool of C;
3. time to first token across 8 prefill replicas (:mod:`blacksoil.kvpool.routing_sim`): each
   has a local pool and serves prefills one at a time, FIFO; a prefill takes uncached tokens /
   prefill speed + cached blocks x restore time. Routers: round-robin, least-loaded, cache-aware
   (``cached prefix tokens - load_weight x queued prefill tokens``), plus least-loaded over one
   shared pool for reference; the trace's clock is stretched so that, without any caching, the
   replicas would be busy ``--utilisation`` of the time; a sweep of load_weight and of the load.

Prefill speed: the embedded engine's, measured on this machine (benchmarks/results/
embedded_engine.json, its longest prompt), or ``--prefill-tps``. TTFTs scale with 1 / prefill
speed (the load is fixed by utilisation), so their ratios carry over to faster engines as long as
restore stays as cheap relative to prefill; the absolute seconds are this small CPU engine's.

    .venv/bin/python benchmarks/kvpool_trace.py            # about 40 s on 2 cores
    .venv/bin/python benchmarks/kvpool_trace.py --quick    # the first 3,000 prompts, fewer points

Prints JSON and writes benchmarks/results/kvpool_trace.json; a Markdown summary on stderr.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import procs
from blacksoil.kvpool.routing_sim import PrefillModel, simulate, span_s, time_scale_for
from blacksoil.kvpool.simulator import (
    BLOCK_TOKENS,
    HitRate,
    TraceCache,
    TraceRequest,
    hit_rate,
    infinite_bound,
    load_trace,
    local_vs_shared,
)

TRACE = procs.ROOT.parent / "shared" / "data" / "traces" / "mooncake" / "conversation_trace.jsonl"
ENGINE_RESULTS = procs.ROOT / "benchmarks" / "results" / "embedded_engine.json"
RESULTS = procs.ROOT / "benchmarks" / "results" / "kvpool_trace.json"
POLICIES = ("lru", "cost_aware")
VARIANTS = {
    "lru": ("lru", "tokens"),
    "cost_aware": ("cost_aware", "tokens"),
    "cost_aware_depth": ("cost_aware", "depth"),
}
"""Columns of the capacity curve: (policy, a block's cost: its tokens, or its end position in the prompt)."""
CAPACITIES = (1_000_000, 3_000_000, 10_000_000, 20_000_000, 30_000_000, 50_000_000)
QUICK_CAPACITIES = (1_000_000, 10_000_000)
RESTORE_MS_PER_BLOCK = 5.0 * BLOCK_TOKENS / 1536  # 5 ms per 1536 tokens, scaled to one block
LOAD_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
UTILISATIONS = (0.5, 0.7, 0.9)
SHARED_GOAL, TTFT_GOAL = 0.9, 2.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the first 3,000 prompts, two capacities, fewer sweeps")
    p.add_argument("--trace", type=Path, default=TRACE)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--replicas", type=int, default=8)
    p.add_argument("--shared-tokens", type=int, default=10_000_000, help="total capacity for local vs shared")
    p.add_argument("--prefill-tps", type=float, help="prefill tokens/s (default: embedded_engine.json)")
    p.add_argument("--restore-ms-per-block", type=float, default=RESTORE_MS_PER_BLOCK)
    p.add_argument("--utilisation", type=float, default=0.7, help="replicas' busy share without caching")
    p.add_argument("--routing-tokens", type=int, default=10_000_000, help="local pools' total, split evenly")
    p.add_argument("--routing-policy", default="lru", choices=POLICIES)
    p.add_argument("--load-weight", type=float, default=1.0, help="cache-aware: tokens of queue per cached token")
    args = p.parse_args()
    if not args.trace.exists():
        sys.exit(f"no trace at {args.trace} (looked there; pass --trace PATH, see ../shared/data/README.md)")
    tps, tps_source = prefill_speed(args.prefill_tps)
    started = time.perf_counter()
    with procs.bench_lock():
        trace = load_trace(args.trace, limit=3000 if args.quick else None)
        procs.log(f"{len(trace)} prompts from {args.trace}")
        model = PrefillModel(tps, args.restore_ms_per_block / 1000)
        result: dict[str, Any] = {
            "benchmark": "kvpool_trace",
            "machine": procs.machine(),
            "source": procs.source_state(),
            "trace": describe(trace, args),
            "inputs": inputs(model, tps_source, args),
        }
        result["hit_rate"] = capacity_curve(trace, QUICK_CAPACITIES if args.quick else CAPACITIES)
        result["local_vs_shared"] = shared_vs_local(trace, args.shared_tokens, args.replicas)
        result["routing"] = routing(trace, model, args)
        result["goals"] = goals(result, args)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    procs.log(summary(result))


def prefill_speed(flag: float | None) -> tuple[float, str]:
    """Prefill tokens/s and where the number came from."""
    if flag:
        return flag, "--prefill-tps"
    try:
        engine = json.loads(ENGINE_RESULTS.read_text())
        by_length = engine["raw"]["by_length"]
        longest = max(by_length, key=int)
        tps = float(by_length[longest]["prefill_tok_s"])
    except (OSError, KeyError, ValueError) as exc:
        sys.exit(f"no prefill speed in {ENGINE_RESULTS} ({exc}): run benchmarks/embedded_engine.py or --prefill-tps")
    cpu = engine.get("machine", {}).get("cpu", "?")
    return tps, f"{ENGINE_RESULTS.name}: raw.by_length['{longest}'].prefill_tok_s (embedded engine, {cpu})"


def describe(trace: Sequence[TraceRequest], args: argparse.Namespace) -> dict[str, Any]:
    blocks = [h for r in trace for h in r.hash_ids]
    return {
        "path": str(args.trace),
        "requests": len(trace),
        "input_tokens": sum(r.input_length for r in trace),
        "blocks": len(blocks),
        "unique_blocks": len(set(blocks)),
        "span_s": span_s(trace),
        "quick": args.quick,
    }


def inputs(model: PrefillModel, tps_source: str, args: argparse.Namespace) -> dict[str, Any]:
    restore = "--restore-ms-per-block" if args.restore_ms_per_block != RESTORE_MS_PER_BLOCK else "default"
    return {
        "block_tokens": BLOCK_TOKENS,
        "prefill_tokens_per_s": {"value": model.tokens_per_s, "source": tps_source},
        "restore_s_per_block": {
            "value": round(model.restore_s_per_block, 6),
            "source": f"{restore}: 5 ms per 1536 tokens (the task's default), scaled linearly to {BLOCK_TOKENS}",
        },
        "cost_of_a_block": "its tokens, as connectors/llama.py passes it (cost_aware then ranks blocks by reads "
        "per token); in cost_aware_depth, its end position in the prompt",
    }


def capacity_curve(trace: Sequence[TraceRequest], capacities: Sequence[int]) -> dict[str, Any]:
    bound = infinite_bound(trace)
    procs.log(f"infinite cache: {bound.token_weighted:.2%} of prompt tokens")
    out: dict[str, Any] = {"infinite": bound.as_dict(), "by_policy": {}, "clairvoyant": {}}
    for cap in capacities:
        for name, (policy, cost) in VARIANTS.items():
            t = time.perf_counter()
            rate = hit_rate(trace, cap, policy, cost)
            out["by_policy"].setdefault(name, {})[str(cap)] = with_share(rate, bound, time.perf_counter() - t)
            procs.log(f"  {name} {cap / 1e6:g}M tokens: {rate.token_weighted:.2%}")
        out["clairvoyant"][str(cap)] = with_share(clairvoyant(trace, cap), bound, None)
    return out


def with_share(rate: HitRate, bound: HitRate, seconds: float | None) -> dict[str, Any]:
    row: dict[str, Any] = {**rate.as_dict(), "share_of_bound": round(rate.token_weighted / bound.token_weighted, 4)}
    if seconds is not None:
        row["replay_s"] = round(seconds, 2)
    return row


def clairvoyant(trace: Sequence[TraceRequest], capacity_tokens: int) -> HitRate:
    """Belady's rule: admit a block only if it is used again; when over capacity evict the one used furthest ahead."""
    never = len(trace)
    following: list[list[int]] = [[] for _ in trace]  # for each block of each prompt: the next prompt using it
    last: dict[int, int] = {}
    for i in range(len(trace) - 1, -1, -1):
        following[i] = [last.get(h, never) for h in trace[i].hash_ids]
        last.update((h, i) for h in trace[i].hash_ids)
    held: dict[int, tuple[int, int]] = {}  # hash id -> (next use, size)
    heap: list[tuple[int, int]] = []  # (-next use, hash id), stale entries skipped
    used = 0
    rate = HitRate()
    for i, request in enumerate(trace):
        blocks = next((j for j, h in enumerate(request.hash_ids) if h not in held), len(request.hash_ids))
        rate.add(request, request.hit_tokens(blocks))
        for j, (h, nxt) in enumerate(zip(request.hash_ids, following[i], strict=True)):
            size = held[h][1] if h in held else request.block_size(j)
            if h not in held and nxt == never:
                continue
            used += 0 if h in held else size
            held[h] = (nxt, size)
            heapq.heappush(heap, (-nxt, h))
        while used > capacity_tokens:
            nxt, h = heapq.heappop(heap)
            if h in held and held[h][0] == -nxt:
                used -= held.pop(h)[1]
    return rate


def shared_vs_local(trace: Sequence[TraceRequest], capacity: int, replicas: int) -> dict[str, Any]:
    bound = infinite_bound(trace)
    out: dict[str, Any] = {"capacity_tokens": capacity, "replicas": replicas, "assignment": "round-robin"}
    for policy in POLICIES:
        rates = local_vs_shared(trace, capacity, policy, replicas)
        out[policy] = {name: with_share(rate, bound, None) for name, rate in rates.items()}
        procs.log(f"  {policy}: local {rates['local'].token_weighted:.2%}, shared {rates['shared'].token_weighted:.2%}")
    return out


def routing(trace: Sequence[TraceRequest], model: PrefillModel, args: argparse.Namespace) -> dict[str, Any]:
    per_replica = args.routing_tokens // args.replicas
    scale = time_scale_for(trace, model, args.replicas, args.utilisation)

    def run(router: str, utilisation: float = args.utilisation, weight: float = args.load_weight) -> dict[str, Any]:
        caches = [TraceCache.in_memory(per_replica, args.routing_policy) for _ in range(args.replicas)]
        stretch = time_scale_for(trace, model, args.replicas, utilisation)
        return simulate(trace, router, caches, model, stretch, weight).summary()

    shared = TraceCache.in_memory(args.routing_tokens, args.routing_policy)
    shared_row = simulate(trace, "least_loaded", [shared] * args.replicas, model, scale).summary()
    out: dict[str, Any] = {
        "replicas": args.replicas,
        "utilisation_without_cache": args.utilisation,
        "time_scale": {
            "value": round(scale, 4),
            "how": "sum(input_length) / prefill_tps / (replicas * trace span_s * time_scale) = utilisation",
        },
        "local_cache_tokens_per_replica": per_replica,
        "policy": args.routing_policy,
        "load_weight": args.load_weight,
        "results": {r: run(r) for r in ("round_robin", "least_loaded", "cache_aware")},
        "least_loaded_shared_pool": {**shared_row, "pool_tokens": args.routing_tokens},
    }
    procs.log("  routers: " + ", ".join(f"{k} {v['ttft_mean_s']:.1f} s" for k, v in out["results"].items()))
    weights = (0.0, 1.0) if args.quick else LOAD_WEIGHTS
    out["load_weight_sweep"] = {str(w): run("cache_aware", weight=w) for w in weights}
    if not args.quick:
        out["load_sweep"] = {
            str(u): {r: run(r, utilisation=u) for r in ("round_robin", "least_loaded", "cache_aware")}
            for u in UTILISATIONS
        }
    return out


def goals(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    shares = {p: result["local_vs_shared"][p]["shared"]["share_of_bound"] for p in POLICIES}
    ttft = result["routing"]["results"]
    ratio = ttft["round_robin"]["ttft_mean_s"] / ttft["cache_aware"]["ttft_mean_s"]
    return {
        "shared_pool_share_of_bound": {
            "goal": SHARED_GOAL,
            "capacity_tokens": args.shared_tokens,
            "by_policy": shares,
            "met": max(shares.values()) >= SHARED_GOAL,
        },
        "cache_aware_ttft_speedup_vs_round_robin": {"goal": TTFT_GOAL, "value": round(ratio, 2), "met": ratio >= 2},
    }


def summary(result: dict[str, Any]) -> str:
    hr = result["hit_rate"]
    caps = list(hr["by_policy"]["lru"])
    lines = [
        "",
        f"infinite cache: {hr['infinite']['token_weighted']:.1%} of prompt tokens "
        f"({hr['infinite']['request_weighted']:.1%} request-weighted)",
        "",
        "| capacity (tokens) | " + " | ".join(VARIANTS) + " | clairvoyant |",
        "|---|" + "---|" * (len(VARIANTS) + 1),
    ]
    for cap in caps:
        cells = [hr["by_policy"][p][cap] for p in VARIANTS] + [hr["clairvoyant"][cap]]
        row = " | ".join(f"{c['token_weighted']:.1%} ({c['share_of_bound']:.0%} of bound)" for c in cells)
        lines.append(f"| {int(cap) / 1e6:g}M | {row} |")
    ls = result["local_vs_shared"]
    lines += ["", f"{ls['replicas']} replicas, {ls['capacity_tokens'] / 1e6:g}M tokens in all:", ""]
    lines += ["| policy | local (C/N each) | shared (C) |", "|---|---|---|"]
    for p in POLICIES:
        lo, sh = ls[p]["local"], ls[p]["shared"]
        lines.append(
            f"| {p} | {lo['token_weighted']:.1%} ({lo['share_of_bound']:.0%}) | "
            f"{sh['token_weighted']:.1%} ({sh['share_of_bound']:.0%}) |"
        )
    rt = result["routing"]
    lines += ["", f"TTFT at utilisation {rt['utilisation_without_cache']} (without cache), load_weight "
              f"{rt['load_weight']}:", ""]  # fmt: skip
    lines += ["| router | mean s | p50 s | p99 s | hit rate | busy share |", "|---|---|---|---|---|---|"]
    rows = {**rt["results"], "least_loaded + shared pool": rt["least_loaded_shared_pool"]}
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['ttft_mean_s']:.1f} | {r['ttft_p50_s']:.1f} | {r['ttft_p99_s']:.1f} | "
            f"{r['hit_rate']['token_weighted']:.1%} | {r['busy_share']:.0%} |"
        )
    sweep = ", ".join(f"{w}: {r['ttft_mean_s']:.1f} s" for w, r in rt["load_weight_sweep"].items())
    lines.append(f"\ncache-aware mean TTFT by load_weight: {sweep}")
    g = result["goals"]
    s, t = g["shared_pool_share_of_bound"], g["cache_aware_ttft_speedup_vs_round_robin"]
    verdict = {True: "met", False: "NOT met"}
    lines.append(f"goal shared pool >= {s['goal']:.0%} of bound: {s['by_policy']} -> {verdict[s['met']]}")
    lines.append(f"goal cache-aware >= {t['goal']}x lower mean TTFT than RR: {t['value']}x -> {verdict[t['met']]}")
    lines.append(f"elapsed {result['elapsed_s']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
