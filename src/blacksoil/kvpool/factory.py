"""Build a :class:`KVPool` from its config."""

from __future__ import annotations

from pathlib import Path

from blacksoil.core.home import Home
from blacksoil.kvpool.config import DiskTierConfig, KVPoolConfig, MemoryTierConfig, TierConfig
from blacksoil.kvpool.policies import make_policy
from blacksoil.kvpool.pool import KVPool
from blacksoil.kvpool.tiers import DiskTier, MemoryTier, RedisTier, Tier

MIB = 1 << 20


def build_pool(config: KVPoolConfig, home: Home) -> KVPool:
    return KVPool([_tier(t, config.eviction, home) for t in config.tiers])


def _tier(cfg: TierConfig, eviction: str, home: Home) -> Tier:
    capacity = int(cfg.capacity_mb * MIB)
    if isinstance(cfg, MemoryTierConfig):
        return MemoryTier(cfg.name, capacity, make_policy(eviction))
    if isinstance(cfg, DiskTierConfig):
        root = Path(cfg.path).expanduser() if cfg.path else home.sub("kvpool") / "blocks"
        return DiskTier(cfg.name, root, capacity, make_policy(eviction))
    return RedisTier(cfg.name, cfg.url, capacity, cfg.prefix, cfg.ttl_s)
