"""What crosses the KV pool's boundary: lookups and per-tier statistics."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Match:
    """The longest cached prefix of a prompt's blocks."""

    blocks: int
    """How many leading blocks some tier holds."""
    tiers: tuple[str, ...] = ()
    """For each of those blocks, the fastest tier holding it."""


@dataclass(slots=True)
class TierStats:
    lookups: int = 0
    hits: int = 0
    puts: int = 0
    evictions: int = 0
    corrupt: int = 0
    """Blocks that failed their checksum (or were truncated): deleted and read as misses."""
    bytes_read: int = 0
    bytes_written: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.lookups if self.lookups else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "lookups": self.lookups,
            "hits": self.hits,
            "hit_rate": round(self.hit_rate, 4),
            "puts": self.puts,
            "evictions": self.evictions,
            "corrupt": self.corrupt,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            **self.extra,
        }
