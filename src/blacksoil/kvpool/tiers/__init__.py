"""The pool's tiers: host memory, local disk, a shared Redis/Valkey store."""

from blacksoil.kvpool.tiers.base import Evicted, Tier
from blacksoil.kvpool.tiers.disk import DiskTier
from blacksoil.kvpool.tiers.memory import MemoryTier
from blacksoil.kvpool.tiers.redis import RedisTier

__all__ = ["DiskTier", "Evicted", "MemoryTier", "RedisTier", "Tier"]
