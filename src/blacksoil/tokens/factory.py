"""Build a ready-to-start :class:`Gateway` from the token plane's config."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from blacksoil.core.home import Home
from blacksoil.kvpool import KVPool
from blacksoil.tokens.backends import ReplicaSpec, make_engine
from blacksoil.tokens.breaker import CircuitBreaker
from blacksoil.tokens.config import TokensConfig
from blacksoil.tokens.gateway import Gateway
from blacksoil.tokens.metrics import TokenMetrics
from blacksoil.tokens.policies import make_policy
from blacksoil.tokens.pool import ModelPool, Replica
from blacksoil.tokens.router import Router, build_catalog
from blacksoil.tokens.weights import Progress


def build_gateway(
    config: TokensConfig,
    home: Home,
    registry: CollectorRegistry,
    progress: Progress | None = None,
    kv_pool: KVPool | None = None,
    block_tokens: int = 256,
) -> Gateway:
    """The gateway over the configured models; ``kv_pool`` serves embedded replicas that opt in."""
    metrics = TokenMetrics(registry)
    pools: dict[str, ModelPool] = {}
    for model in config.models:
        replicas = []
        for index, replica_cfg in enumerate(model.replicas):
            name = replica_cfg.name or f"{model.name}/{index}"
            spec = ReplicaSpec(
                name, model.name, replica_cfg, config, home.root / "models", progress, kv_pool, block_tokens
            )
            engine = make_engine(spec)
            breaker = CircuitBreaker(config.breaker.failure_threshold, config.breaker.cooldown_s)
            replica_metrics = metrics.for_replica(model.name, name, engine.queue_depth)
            replicas.append(Replica(engine, breaker, replica_metrics))
        pools[model.name] = ModelPool(model.name, model.owned_by, replicas, make_policy(config.balancer))
    return Gateway(config, pools, metrics, build_router(config, home))


def build_router(config: TokensConfig, home: Home) -> Router:
    """The router over the configured catalog, with the trained predictor if there is one.

    An explicitly configured predictor must load; the default one (``<home>/router/predictor.npz``)
    is used when present, and without any the router ranks by each model's configured ``quality``.
    Either file is watched: a retrained predictor replaces the loaded one while the gateway runs.
    """
    path = Path(config.router.predictor).expanduser() if config.router.predictor else default_predictor_path(home)
    router = Router(config.router, build_catalog(config), predictor_path=path)
    router.refresh(strict=bool(config.router.predictor))  # a configured predictor must be there
    return router


def default_predictor_path(home: Home) -> Path:
    return home.root / "router" / "predictor.npz"
