"""The KV pool: prefix KV-cache blocks kept outside the engine, in tiers, shared by replicas.

Use it as a library::

    pool = build_pool(KVPoolConfig(), Home.resolve())
    keys = block_keys(prompt_tokens, 256, fingerprint(model_sha256, engine_version, layout))
    match = pool.lookup(keys)            # the longest cached prefix, in one call
    payload = pool.get(keys[0])          # promoted into faster tiers on the way
    pool.put(keys[0], payload, cost=1.0)
"""

from blacksoil.kvpool.config import DiskTierConfig, KVPoolConfig, MemoryTierConfig, RedisTierConfig
from blacksoil.kvpool.errors import KVPoolError, TierUnavailableError
from blacksoil.kvpool.factory import build_pool
from blacksoil.kvpool.keys import block_keys, fingerprint
from blacksoil.kvpool.policies import POLICIES, EvictionPolicy, make_policy
from blacksoil.kvpool.pool import KVPool
from blacksoil.kvpool.tiers import DiskTier, MemoryTier, RedisTier, Tier
from blacksoil.kvpool.types import Match, TierStats

__all__ = [
    "POLICIES",
    "DiskTier",
    "DiskTierConfig",
    "EvictionPolicy",
    "KVPool",
    "KVPoolConfig",
    "KVPoolError",
    "Match",
    "MemoryTier",
    "MemoryTierConfig",
    "RedisTier",
    "RedisTierConfig",
    "Tier",
    "TierStats",
    "TierUnavailableError",
    "block_keys",
    "build_pool",
    "fingerprint",
    "make_policy",
]
