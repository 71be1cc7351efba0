"""Engine backends, chosen per replica by ``engine = "<name>"`` in the config.

Each backend is one module and one factory here; the error for an unknown name lists the valid
ones (the config model already rejects unknown names; this guards programmatic use).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blacksoil.core.errors import ConfigError
from blacksoil.kvpool import KVPool
from blacksoil.tokens.backends.embedded import EmbeddedEngine
from blacksoil.tokens.backends.upstream import UpstreamEngine
from blacksoil.tokens.config import EmbeddedReplicaConfig, ReplicaConfig, TokensConfig, UpstreamReplicaConfig
from blacksoil.tokens.engine import Engine
from blacksoil.tokens.weights import Progress, ensure_default_model


@dataclass(frozen=True)
class ReplicaSpec:
    """Everything a factory needs to build one replica's engine."""

    name: str
    model: str
    config: ReplicaConfig
    tokens: TokensConfig
    models_dir: Path
    progress: Progress | None = None
    kv_pool: KVPool | None = None
    """The instance's KV pool, for embedded replicas with ``kv_pool = true``."""
    block_tokens: int = 256


def _embedded(spec: ReplicaSpec) -> Engine:
    cfg = spec.config
    assert isinstance(cfg, EmbeddedReplicaConfig)
    path = Path(cfg.model_path).expanduser() if cfg.model_path else ensure_default_model(spec.models_dir, spec.progress)
    if not path.is_file():
        raise ConfigError(f"model_path {path} for replica {spec.name} does not exist")
    if cfg.kv_pool and spec.kv_pool is None:
        raise ConfigError(f"replica {spec.name} sets kv_pool = true, but this instance has no KV pool")
    pool = spec.kv_pool if cfg.kv_pool else None
    return EmbeddedEngine(spec.name, spec.model, cfg, path, pool, spec.block_tokens)


def _upstream(spec: ReplicaSpec) -> Engine:
    assert isinstance(spec.config, UpstreamReplicaConfig)
    return UpstreamEngine(spec.name, spec.model, spec.config, spec.tokens.timeouts)


BACKENDS: dict[str, Callable[[ReplicaSpec], Engine]] = {"embedded": _embedded, "upstream": _upstream}


def make_engine(spec: ReplicaSpec) -> Engine:
    factory = BACKENDS.get(spec.config.engine)
    if factory is None:
        valid = ", ".join(sorted(BACKENDS))
        raise ConfigError(f"unknown engine '{spec.config.engine}' for replica {spec.name}; valid: {valid}")
    return factory(spec)


__all__ = ["BACKENDS", "EmbeddedEngine", "ReplicaSpec", "UpstreamEngine", "make_engine"]
