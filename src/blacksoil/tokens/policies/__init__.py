"""Replica balancing policies, chosen by name in ``tokens.balancer``."""

from __future__ import annotations

from blacksoil.core.errors import ConfigError
from blacksoil.tokens.policies.base import BalancingPolicy, ReplicaView
from blacksoil.tokens.policies.cache_aware import CacheAware
from blacksoil.tokens.policies.least_loaded import LeastLoaded
from blacksoil.tokens.policies.round_robin import RoundRobin

POLICIES: dict[str, type[BalancingPolicy]] = {cls.name: cls for cls in (LeastLoaded, RoundRobin, CacheAware)}


def make_policy(name: str) -> BalancingPolicy:
    try:
        return POLICIES[name]()
    except KeyError:
        valid = ", ".join(sorted(POLICIES))
        raise ConfigError(f"tokens.balancer: unknown policy '{name}'; valid: {valid}") from None


__all__ = ["POLICIES", "BalancingPolicy", "ReplicaView", "make_policy"]
