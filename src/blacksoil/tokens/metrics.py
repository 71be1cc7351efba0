"""The token plane's Prometheus metrics, per model and replica.

Children are resolved once per replica (``ReplicaMetrics``), so the request path does no label
lookups: each observation is one lock and one add.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from blacksoil.core.metrics import LATENCY_BUCKETS, TOKEN_LATENCY_BUCKETS

_ERROR_KINDS = ("upstream_unavailable", "bad_gateway", "upstream_timeout", "cancelled")


class TokenMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("model", "replica")
        self.requests = Counter(
            "blacksoil_tokens_requests",
            "Generation requests finished",
            (*labels, "outcome"),
            registry=registry,
        )
        self.ttft = Histogram(
            "blacksoil_tokens_time_to_first_token_seconds",
            "From accepting a request to its first output token",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tpot = Histogram(
            "blacksoil_tokens_time_per_output_token_seconds",
            "Mean gap between output tokens after the first, per request",
            labels,
            buckets=TOKEN_LATENCY_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "blacksoil_tokens_request_duration_seconds",
            "Whole request time inside the gateway",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens_in = Counter("blacksoil_tokens_prompt_tokens", "Prompt tokens", labels, registry=registry)
        self.tokens_out = Counter("blacksoil_tokens_completion_tokens", "Generated tokens", labels, registry=registry)
        self.in_flight = Gauge("blacksoil_tokens_in_flight", "Requests in flight", labels, registry=registry)
        self.queue_depth = Gauge(
            "blacksoil_tokens_queue_depth",
            "Requests waiting for their first token",
            labels,
            registry=registry,
        )
        self.errors = Counter("blacksoil_tokens_errors", "Failures by kind", (*labels, "kind"), registry=registry)
        self.healthy = Gauge("blacksoil_tokens_replica_healthy", "1 if healthy", labels, registry=registry)
        self.breaker = Gauge(
            "blacksoil_tokens_circuit_state", "0 closed, 1 half-open, 2 open", labels, registry=registry
        )

        self.route_decisions = Counter(
            "blacksoil_router_decisions",
            "Requests routed, by strategy and the model that served",
            ("strategy", "model"),
            registry=registry,
        )
        self.route_fallbacks = Counter(
            "blacksoil_router_fallbacks",
            "Routed requests moved on from a model that failed before answering",
            ("strategy", "model"),
            registry=registry,
        )
        self.route_seconds = Histogram(
            "blacksoil_router_seconds",
            "Time to pick the models for one request (constraints, prediction, ranking)",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
            registry=registry,
        )

    def for_replica(self, model: str, replica: str, queue_depth: Callable[[], float]) -> ReplicaMetrics:
        return ReplicaMetrics(self, model, replica, queue_depth)


class ReplicaMetrics:
    """Pre-resolved metric children for one replica of one model."""

    def __init__(self, m: TokenMetrics, model: str, replica: str, queue_depth: Callable[[], float]) -> None:
        self._m, self._labels = m, (model, replica)
        self.ttft = m.ttft.labels(model, replica)
        self.tpot = m.tpot.labels(model, replica)
        self.duration = m.duration.labels(model, replica)
        self.tokens_in = m.tokens_in.labels(model, replica)
        self.tokens_out = m.tokens_out.labels(model, replica)
        self.in_flight = m.in_flight.labels(model, replica)
        self.healthy = m.healthy.labels(model, replica)
        self.breaker = m.breaker.labels(model, replica)
        self.ok = m.requests.labels(model, replica, "ok")
        self.failed = m.requests.labels(model, replica, "error")
        m.queue_depth.labels(model, replica).set_function(queue_depth)
        self._errors = {kind: m.errors.labels(model, replica, kind) for kind in _ERROR_KINDS}

    def error(self, kind: str) -> None:
        counter = self._errors.get(kind)
        if counter is None:
            counter = self._errors[kind] = self._m.errors.labels(*self._labels, kind)
        counter.inc()
