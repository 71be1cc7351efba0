"""Settings of the KV pool: block size, eviction policy, and the tiers from fastest to slowest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from blacksoil.core.config import StrictModel


class MemoryTierConfig(StrictModel):
    kind: Literal["memory"] = "memory"
    name: str = "memory"
    capacity_mb: float = Field(1024.0, gt=0, description="Host memory for blocks, in MiB.")


class DiskTierConfig(StrictModel):
    kind: Literal["disk"] = "disk"
    name: str = "disk"
    path: str | None = Field(None, description="Directory for block files. Default: <home>/kvpool/blocks.")
    capacity_mb: float = Field(10240.0, gt=0, description="Disk for blocks, in MiB (per process's view).")


class RedisTierConfig(StrictModel):
    kind: Literal["redis"] = "redis"
    name: str = "redis"
    url: str = Field(description="redis:// or rediss:// URL; give the pool a database of its own.")
    capacity_mb: float = Field(
        0.0, ge=0, description="Reported only: the server's maxmemory and maxmemory-policy bound it."
    )
    prefix: str = "bskv:"
    ttl_s: float | None = Field(None, gt=0, description="Expire blocks after this long (none: evicted by the server).")


TierConfig = Annotated[MemoryTierConfig | DiskTierConfig | RedisTierConfig, Field(discriminator="kind")]


def _default_tiers() -> list[TierConfig]:
    return [MemoryTierConfig(), DiskTierConfig()]


class KVPoolConfig(StrictModel):
    block_tokens: int = Field(256, ge=16, le=8192, description="Tokens per block (the unit of sharing).")
    eviction: str = Field("lru", description="Eviction policy of memory and disk tiers: lru or cost_aware.")
    tiers: list[TierConfig] = Field(default_factory=_default_tiers, min_length=1, description="Fastest first.")

    @model_validator(mode="after")
    def _unique_names(self) -> KVPoolConfig:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique; got {', '.join(names)}")
        return self
