"""Eviction policies, chosen by name in ``kvpool.eviction``."""

from __future__ import annotations

from blacksoil.core.errors import ConfigError
from blacksoil.kvpool.policies.base import EvictionPolicy
from blacksoil.kvpool.policies.cost_aware import CostAware
from blacksoil.kvpool.policies.lru import LRU

POLICIES: dict[str, type[EvictionPolicy]] = {cls.name: cls for cls in (LRU, CostAware)}


def make_policy(name: str) -> EvictionPolicy:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ConfigError(f"kvpool.eviction: unknown policy '{name}'; valid: {', '.join(sorted(POLICIES))}") from None


__all__ = ["LRU", "POLICIES", "CostAware", "EvictionPolicy", "make_policy"]
