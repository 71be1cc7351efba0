"""Time to first token across engine replicas with their own KV caches, under three routers.

The model, kept small on purpose:

* Each replica serves prefills one at a time, first come first served, and decodes elsewhere
  (prefill/decode disaggregation, as in Mooncake), so only prefill occupies it.
* A prefill takes ``uncached_tokens / tokens_per_s + cached_blocks * restore_s_per_block``.
  TTFT is the wait for the replica plus the request's own prefill.
* Each replica has a :class:`TraceCache` (the real pool and policy). The router looks it up when
  the request arrives, and the request's blocks are stored then too: with FIFO service every
  later request on that replica runs after this prefill has finished, so it finds them in time.
* Arrival *i* is at ``(timestamp_i - timestamp_0) * time_scale``; :func:`time_scale_for` picks
  the scale giving a stated utilisation *without* caching, so routers are compared at one load.

Routers: ``round_robin``; ``least_loaded`` (least queued work); ``cache_aware``
(:func:`blacksoil.kvpool.routing.choose`: cached prefix tokens minus ``load_weight`` x queued
tokens, queued work counted in prefill tokens). Ties go to the least loaded, then in rotation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from blacksoil.kvpool.routing import choose
from blacksoil.kvpool.simulator import HitRate, TraceCache, TraceRequest

ROUTERS = ("round_robin", "least_loaded", "cache_aware")


@dataclass(frozen=True, slots=True)
class PrefillModel:
    """How long one replica takes to make a prompt's first token."""

    tokens_per_s: float
    """Prefill speed on tokens that are not cached."""
    restore_s_per_block: float
    """Loading one cached block from the pool into the engine."""

    def seconds(self, uncached_tokens: int, cached_blocks: int) -> float:
        return uncached_tokens / self.tokens_per_s + cached_blocks * self.restore_s_per_block


def span_s(trace: Sequence[TraceRequest]) -> float:
    """Seconds from the trace's first arrival to its last, as recorded."""
    stamps = [r.timestamp_ms for r in trace]
    return (max(stamps) - min(stamps)) / 1000.0


def time_scale_for(trace: Sequence[TraceRequest], model: PrefillModel, replicas: int, utilisation: float) -> float:
    """The stretch of the trace's clock that makes ``replicas`` run at ``utilisation`` with no cache.

    ``utilisation = (sum of input_length / tokens_per_s) / (replicas * span_s * time_scale)``.
    """
    if utilisation <= 0 or span_s(trace) <= 0:
        raise ValueError("need a positive utilisation and a trace spanning some time")
    work_s = sum(r.input_length for r in trace) / model.tokens_per_s
    return work_s / (replicas * span_s(trace) * utilisation)


@dataclass(slots=True)
class RoutingResult:
    """What one router did to the trace."""

    router: str
    replicas: int
    ttft_s: list[float] = field(default_factory=list)
    assigned: list[int] = field(default_factory=list)
    """The replica each request went to, in arrival order."""
    hits: HitRate = field(default_factory=HitRate)
    busy_s: float = 0.0
    """Total prefill time over all replicas."""
    end_s: float = 0.0
    """When the last prefill finished."""

    def summary(self) -> dict[str, object]:
        counts = [self.assigned.count(r) for r in range(self.replicas)]
        return {
            "router": self.router,
            "ttft_mean_s": round(statistics.fmean(self.ttft_s), 3),
            "ttft_p50_s": round(percentile(self.ttft_s, 50), 3),
            "ttft_p99_s": round(percentile(self.ttft_s, 99), 3),
            "hit_rate": self.hits.as_dict(),
            "busy_share": round(self.busy_s / (self.replicas * self.end_s), 4) if self.end_s else 0.0,
            "requests_per_replica": {"min": min(counts), "max": max(counts)},
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile, interpolating between order statistics (``method="inclusive"``)."""
    if len(values) < 2:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1] if q < 100 else max(values)


def simulate(
    trace: Sequence[TraceRequest],
    router: str,
    caches: Sequence[TraceCache],
    model: PrefillModel,
    time_scale: float,
    load_weight: float = 1.0,
) -> RoutingResult:
    """Replay ``trace`` over ``len(caches)`` replicas (pass one cache several times for a shared pool)."""
    if router not in ROUTERS:
        raise ValueError(f"unknown router '{router}'; valid: {', '.join(ROUTERS)}")
    ordered = sorted(trace, key=lambda r: r.timestamp_ms)
    start_ms = ordered[0].timestamp_ms
    free_at = [0.0] * len(caches)
    result = RoutingResult(router, len(caches))
    for i, request in enumerate(ordered):
        now = (request.timestamp_ms - start_ms) / 1000.0 * time_scale
        queued = [max(0.0, f - now) * model.tokens_per_s for f in free_at]
        replica, blocks = route(router, i, request, caches, queued, load_weight)
        hit = request.hit_tokens(blocks)
        caches[replica].serve(request, blocks)
        service = model.seconds(request.input_length - hit, blocks)
        free_at[replica] = max(now, free_at[replica]) + service
        result.ttft_s.append(free_at[replica] - now)
        result.assigned.append(replica)
        result.hits.add(request, hit)
        result.busy_s += service
    result.end_s = max(free_at)
    return result


def route(
    router: str,
    index: int,
    request: TraceRequest,
    caches: Sequence[TraceCache],
    queued_tokens: Sequence[float],
    load_weight: float,
) -> tuple[int, int]:
    """The replica for request number ``index`` and how many leading blocks it holds."""
    n = len(caches)
    if router == "cache_aware":
        blocks = [cache.cached_blocks(request) for cache in caches]
        cached = [float(request.hit_tokens(b)) for b in blocks]
        replica = choose(cached, queued_tokens, load_weight, start=index % n)
        return replica, blocks[replica]
    # least loaded: the same choice with nothing cached anywhere
    replica = index % n if router == "round_robin" else choose([0.0] * n, queued_tokens, 1.0, start=index % n)
    return replica, caches[replica].cached_blocks(request)
