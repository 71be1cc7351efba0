"""Engine backends, chosen per replica by ``engine = "<name>"`` in the config.

Each backend is one module and one factory here; the error for an unknown name lists the valid
ones (the config model already rejects unknown names; this guards programmatic use).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from blacksoil.core.errors import ConfigError
from blacksoil.tokens.backends.embedded import EmbeddedEngine
from blacksoil.tokens.backends.upstream import UpstreamEngine
from blacksoil.tokens.config import EmbeddedReplicaConfig, ReplicaConfig, TokensConfig, UpstreamReplicaConfig
from blacksoil.tokens.engine import Engine
from blacksoil.tokens.weights import Progress, ensure_default_model


def _embedded(
    name: str,
    model: str,
    cfg: ReplicaConfig,
    tokens: TokensConfig,
    models_dir: Path,
    progress: Progress | None,
) -> Engine:
    assert isinstance(cfg, EmbeddedReplicaConfig)
    path = Path(cfg.model_path).expanduser() if cfg.model_path else ensure_default_model(models_dir, progress)
    if not path.is_file():
        raise ConfigError(f"model_path {path} for replica {name} does not exist")
    return EmbeddedEngine(name, model, cfg, path)


def _upstream(
    name: str,
    model: str,
    cfg: ReplicaConfig,
    tokens: TokensConfig,
    models_dir: Path,
    progress: Progress | None,
) -> Engine:
    assert isinstance(cfg, UpstreamReplicaConfig)
    return UpstreamEngine(name, model, cfg, tokens.timeouts)


EngineFactory = Callable[[str, str, ReplicaConfig, TokensConfig, Path, Progress | None], Engine]
BACKENDS: dict[str, EngineFactory] = {"embedded": _embedded, "upstream": _upstream}


def make_engine(
    name: str,
    model: str,
    cfg: ReplicaConfig,
    tokens: TokensConfig,
    models_dir: Path,
    progress: Progress | None,
) -> Engine:
    factory = BACKENDS.get(cfg.engine)
    if factory is None:
        raise ConfigError(f"unknown engine '{cfg.engine}' for replica {name}; valid: {', '.join(sorted(BACKENDS))}")
    return factory(name, model, cfg, tokens, models_dir, progress)


__all__ = ["BACKENDS", "EmbeddedEngine", "UpstreamEngine", "make_engine"]
