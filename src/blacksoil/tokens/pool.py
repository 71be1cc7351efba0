"""Model pools: a model name maps to replicas; each replica tracks load, health and its breaker.

``ModelPool.attempt()`` is the one place where a request meets a replica: it asks the balancing
policy for an order, skips replicas whose breaker is open, and moves to the next replica only on
a retryable failure (nothing was generated yet). Everything else propagates to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from blacksoil.tokens.breaker import CircuitBreaker
from blacksoil.tokens.engine import Engine
from blacksoil.tokens.errors import (
    UpstreamBadResponseError,
    UpstreamClientError,
    UpstreamError,
    UpstreamUnavailableError,
)
from blacksoil.tokens.metrics import ReplicaMetrics
from blacksoil.tokens.policies import BalancingPolicy
from blacksoil.tokens.types import GenerationRequest

T = TypeVar("T")


class Replica:
    def __init__(self, engine: Engine, breaker: CircuitBreaker, metrics: ReplicaMetrics) -> None:
        self.engine = engine
        self.name = engine.name
        self.breaker = breaker
        self.metrics = metrics
        self.in_flight = 0
        self.healthy = True
        self.last_error: str | None = None
        metrics.healthy.set(1)

    def begin(self) -> float:
        self.in_flight += 1
        self.metrics.in_flight.inc()
        return time.perf_counter()

    def end(self, started: float, error: BaseException | None = None) -> None:
        """Close one request: load, breaker, outcome and duration metrics."""
        self.in_flight -= 1
        m = self.metrics
        m.in_flight.dec()
        m.duration.observe(time.perf_counter() - started)
        if error is None or isinstance(error, UpstreamClientError):
            self.breaker.record_success()
            (m.ok if error is None else m.failed).inc()
        else:
            m.failed.inc()
            if isinstance(error, UpstreamError):
                self.breaker.record_failure()
                self.last_error = error.message
                m.error(error.code or "upstream_error")
            else:
                m.error("cancelled")
        m.breaker.set(int(self.breaker.state))

    def set_health(self, healthy: bool, error: str | None = None) -> None:
        self.healthy = healthy
        if error is not None:
            self.last_error = error
        self.metrics.healthy.set(1 if healthy else 0)


class ModelPool:
    def __init__(self, name: str, owned_by: str, replicas: Sequence[Replica], policy: BalancingPolicy) -> None:
        self.name = name
        self.owned_by = owned_by
        self.replicas = list(replicas)
        self.policy = policy
        self.created = int(time.time())
        self.latency_s: float | None = None
        """Time to first token (streams) or to the answer (unstreamed), exponentially averaged."""

    @property
    def ready(self) -> bool:
        return any(r.healthy for r in self.replicas)

    @property
    def available(self) -> bool:
        """Some replica is healthy and its breaker would let a request through now."""
        return any(r.healthy and r.breaker.would_allow() for r in self.replicas)

    def observe_latency(self, seconds: float, weight: float = 0.2) -> None:
        self.latency_s = seconds if self.latency_s is None else (1 - weight) * self.latency_s + weight * seconds

    async def attempt(
        self, request: GenerationRequest | None, call: Callable[[Replica], Awaitable[T]]
    ) -> tuple[Replica, float, T]:
        """Run ``call`` on the first replica that accepts; return it, its start time and the result.

        The replica stays counted as in flight: the caller must call ``replica.end(started, …)``.
        """
        healthy = [r for r in self.replicas if r.healthy]
        reasons = [f"{r.name}: unhealthy ({r.last_error})" for r in self.replicas if not r.healthy]
        worst: UpstreamError | None = None
        for replica in self.policy.order(healthy, request):
            assert isinstance(replica, Replica)
            if not replica.breaker.allows():
                reasons.append(f"{replica.name}: circuit open after repeated failures ({replica.last_error})")
                continue
            started = replica.begin()
            try:
                result = await call(replica)
            except UpstreamError as exc:
                replica.end(started, exc)
                if not exc.retryable:
                    raise
                reasons.append(exc.message)
                if not isinstance(exc, UpstreamUnavailableError):
                    worst = exc
                continue
            except BaseException as exc:
                replica.end(started, exc)
                raise
            return replica, started, result
        message = f"no replica of model '{self.name}' could take the request: " + "; ".join(reasons)
        if worst is not None:  # some replica answered, badly: that is a bad gateway, not unavailability
            raise UpstreamBadResponseError(message)
        raise UpstreamUnavailableError(message)
