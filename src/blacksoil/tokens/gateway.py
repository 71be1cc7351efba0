"""The gateway: the token plane's core service, with no HTTP in it.

It owns the model pools, runs the health loop, and turns a validated request into a response
object or a stream of chunks, with timeouts, failover and metrics. ``api.py`` is a thin HTTP layer
over it; another plane can use it in-process through the same methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

from blacksoil.core.aio import aclose_quietly
from blacksoil.core.ids import new_id
from blacksoil.tokens.config import TokensConfig
from blacksoil.tokens.engine import Engine
from blacksoil.tokens.errors import (
    ModelNotFoundError,
    UpstreamClientError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from blacksoil.tokens.metrics import TokenMetrics
from blacksoil.tokens.pool import ModelPool, Replica
from blacksoil.tokens.router import Router, RoutingInput, build_catalog, is_auto
from blacksoil.tokens.types import Batch, Completion, EmbeddingRequest, GenerationRequest, ModelCard

T = TypeVar("T")
log = logging.getLogger("blacksoil.tokens")


class Gateway:
    def __init__(
        self,
        config: TokensConfig,
        pools: Mapping[str, ModelPool],
        metrics: TokenMetrics,
        router: Router | None = None,
    ) -> None:
        self.config = config
        self.pools = dict(pools)
        self.metrics = metrics
        self.router = router or Router(config.router, build_catalog(config))
        self._health_task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        for engine in self._engines():
            await engine.start()
        self._health_task = asyncio.create_task(self._health_loop(), name="tokens-health")

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        for engine in self._engines():
            await engine.close()

    @property
    def ready(self) -> bool:
        return all(pool.ready for pool in self.pools.values())

    def models(self) -> list[ModelCard]:
        return [ModelCard(p.name, p.owned_by, p.created, len(p.replicas)) for p in self.pools.values()]

    def catalog(self) -> dict[str, object]:
        """The router's view: strategies, the predictor, and per model its facts and live state."""
        router = self.router
        predictor = router.predictor
        known = set(predictor.models) if predictor is not None else set()
        models = []
        for e in router.catalog:
            pool = self.pools[e.name]
            models.append(
                {
                    "model": e.name,
                    "price_per_mtok": {"input": e.input_price, "output": e.output_price},
                    "context_window": e.context_window,
                    "capabilities": sorted(e.capabilities),
                    "locality": e.locality,
                    "routable": e.routable,
                    "quality": "predicted" if e.quality_name in known else f"prior {e.quality_prior:g}",
                    "available": pool.available,
                    "latency_s": pool.latency_s,
                }
            )
        return {
            "default_strategy": router.config.default_strategy,
            "tolerance": router.config.tolerance.model_dump(),
            "predictor": None if predictor is None else {"models": predictor.models, **predictor.info},
            "models": models,
        }

    # -- requests ------------------------------------------------------------------------------

    def pool(self, model: str) -> ModelPool:
        pool = self.pools.get(model)
        if pool is None:
            raise ModelNotFoundError(model, list(self.pools))
        return pool

    async def generate(self, request: GenerationRequest) -> Completion:
        """A non-streaming chat or text completion."""
        request.request_id = request.request_id or new_id("req")
        timeout = self.config.timeouts.total_s

        async def call(replica: Replica) -> Completion:
            return await _within(timeout, "total_s", replica, replica.engine.generate(request))

        pool, (replica, started, result) = await self._attempt(request, call)
        pool.observe_latency(time.perf_counter() - started)
        result["model"] = pool.name
        usage = result.get("usage") or {}
        replica.metrics.tokens_in.inc(usage.get("prompt_tokens", 0))
        replica.metrics.tokens_out.inc(usage.get("completion_tokens", 0))
        replica.end(started)
        return result

    async def open_stream(self, request: GenerationRequest) -> AsyncIterator[Batch]:
        """Start a streamed completion; return its chunks, in batches, once a replica has accepted it.

        Failures before this returns are retried on other replicas (when retryable) and raised;
        failures after it are raised from the iterator.
        """
        request.request_id = request.request_id or new_id("req")
        timeout = self.config.timeouts.first_token_s

        async def call(replica: Replica) -> AsyncIterator[Batch]:
            return await _within(timeout, "first_token_s", replica, replica.engine.open_stream(request))

        pool, (replica, started, chunks) = await self._attempt(request, call)
        return self._relay(pool, replica, started, chunks, request.params.include_usage)

    async def embed(self, request: EmbeddingRequest) -> dict[str, object]:
        pool = self.pool(request.model)
        timeout = self.config.timeouts.total_s

        async def call(replica: Replica) -> dict[str, object]:
            return await _within(timeout, "total_s", replica, replica.engine.embed(request))

        replica, started, result = await pool.attempt(None, call)
        replica.end(started)
        result["model"] = pool.name
        return result

    # -- internals -----------------------------------------------------------------------------

    async def _attempt(
        self, request: GenerationRequest, call: Callable[[Replica], Awaitable[T]]
    ) -> tuple[ModelPool, tuple[Replica, float, T]]:
        """Run ``call`` on the named model's pool or, for ``auto``, on the routed models in turn.

        A routed request moves to the next model when one fails before answering (unavailable,
        a bad response or a timeout); a client error (4xx) from an engine is the caller's to see.
        """
        if not is_auto(request.params.model):
            pool = self.pool(request.params.model)
            if request.meta or "routing" in request.body:  # locality rules bind named models too
                self.router.admit(pool.name, RoutingInput.from_request(request, self.config.router))
            return pool, await pool.attempt(request, call)
        route = self.router.route(RoutingInput.from_request(request, self.config.router), self.pools.__getitem__)
        self.metrics.route_seconds.observe(route.seconds)
        failures: list[UpstreamError] = []
        for candidate in route.candidates:
            pool = self.pools[candidate.name]
            request.meta["model"] = pool.name
            try:
                result = await pool.attempt(request, call)
            except UpstreamError as exc:
                if isinstance(exc, UpstreamClientError):
                    raise
                failures.append(exc)
                self.metrics.route_fallbacks.labels(route.strategy, pool.name).inc()
                continue
            self.metrics.route_decisions.labels(route.strategy, pool.name).inc()
            return pool, result
        if len(failures) == 1:
            raise failures[0]
        raise UpstreamUnavailableError("every model the router chose failed: " + "; ".join(f.message for f in failures))

    async def _relay(
        self, pool: ModelPool, replica: Replica, started: float, chunks: AsyncIterator[Batch], want_usage: bool
    ) -> AsyncIterator[Batch]:
        """Forward chunks as they arrive, enforcing timeouts and recording metrics."""
        timeouts = self.config.timeouts
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeouts.total_s
        first_at = last_at = 0.0
        n_tokens = 0
        usage = None
        error: BaseException | None = None
        try:
            while True:
                wait = timeouts.idle_s if n_tokens else timeouts.first_token_s
                until = loop.time() + wait
                try:
                    async with asyncio.timeout_at(min(deadline, until)):
                        batch = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if deadline < until:
                        raise _timeout_error(replica, "total_s", timeouts.total_s) from None
                    raise _timeout_error(replica, "idle_s" if n_tokens else "first_token_s", wait) from None
                out: Batch = []
                for chunk in batch:
                    chunk["model"] = pool.name
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                        if not chunk["choices"] and not want_usage:
                            continue
                    if chunk["choices"]:
                        if not n_tokens:
                            first_at = time.perf_counter()
                            replica.metrics.ttft.observe(first_at - started)
                            pool.observe_latency(first_at - started)
                        n_tokens += 1
                    out.append(chunk)
                last_at = time.perf_counter()
                if out:
                    yield out
        except BaseException as exc:
            error = exc
            raise
        finally:
            await aclose_quietly(chunks)
            m = replica.metrics
            if usage:
                m.tokens_in.inc(usage.get("prompt_tokens", 0))
                n_tokens = usage.get("completion_tokens", n_tokens)
            m.tokens_out.inc(n_tokens)
            if n_tokens > 1:
                m.tpot.observe((last_at - first_at) / (n_tokens - 1))
            replica.end(started, error if not isinstance(error, GeneratorExit) else asyncio.CancelledError())

    def _engines(self) -> list[Engine]:
        return [r.engine for p in self.pools.values() for r in p.replicas]

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            if await asyncio.to_thread(self.router.refresh):
                log.info("router predictor reloaded from %s", self.router.predictor_path)
            replicas = [r for p in self.pools.values() for r in p.replicas]
            await asyncio.gather(*(self._check(r) for r in replicas))

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(self.config.timeouts.health_s):
                await replica.engine.check_health()
        except TimeoutError:
            replica.set_health(False, f"health check timed out after {self.config.timeouts.health_s:g}s")
        except UpstreamError as exc:
            replica.set_health(False, exc.message)
        else:
            replica.set_health(True)


_LIMITS = {
    "first_token_s": "no answer for the first token",
    "idle_s": "no answer for the next token",
    "total_s": "the request did not finish",
}


def _timeout_error(replica: Replica, key: str, seconds: float) -> UpstreamTimeoutError:
    """The error for a limit that ran out, naming the replica and the setting to change."""
    return UpstreamTimeoutError(f"{replica.name}: {_LIMITS[key]} within {seconds:g}s (timeouts.{key})")


async def _within(seconds: float, key: str, replica: Replica, work: Awaitable[T]) -> T:
    """Await ``work`` with a deadline; a timeout becomes an UpstreamTimeoutError naming the replica."""
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        raise _timeout_error(replica, key, seconds) from None
