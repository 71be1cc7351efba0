"""A remote store shared by machines: Redis or Valkey.

Blocks are framed (length + CRC) like on disk, under ``<prefix><key hex>``. ``contains`` asks for
a whole prompt's keys in one pipelined round trip. The byte budget and eviction are the server's
own: run it with ``maxmemory`` and ``maxmemory-policy allkeys-lru`` (or ``allkeys-lfu``), which
is what a store shared by many writers needs; ``capacity_bytes`` here only reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import redis

from blacksoil.kvpool import frame
from blacksoil.kvpool.errors import TierUnavailableError
from blacksoil.kvpool.tiers.base import Evicted, Tier

P = ParamSpec("P")
R = TypeVar("R")


class RedisTier(Tier):
    shared = True

    def __init__(
        self, name: str, url: str, capacity_bytes: int, prefix: str = "bskv:", ttl_s: float | None = None
    ) -> None:
        super().__init__(name, capacity_bytes)
        self.url = url
        self.prefix = prefix.encode()
        self.ttl_ms = int(ttl_s * 1000) if ttl_s else None
        self._client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)

    def get(self, key: bytes) -> bytes | None:
        self.stats.lookups += 1
        data = self._call(self._client.get, self._name(key))
        if not isinstance(data, bytes):
            return None
        payload = frame.unpack(data)
        if payload is None:
            self.stats.corrupt += 1
            self._call(self._client.delete, self._name(key))
            return None
        self.stats.hits += 1
        self.stats.bytes_read += len(payload)
        return payload

    def put(self, key: bytes, payload: bytes, cost: float = 1.0) -> Evicted:
        data = frame.pack(payload)
        # NX: a block is immutable; whoever wrote it first wrote the same bytes
        if self._call(self._client.set, self._name(key), data, nx=True, px=self.ttl_ms):
            self.stats.puts += 1
            self.stats.bytes_written += len(data)
        return []

    def contains(self, keys: Sequence[bytes]) -> list[bool]:
        if not keys:
            return []
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(self._name(key))
        return [bool(n) for n in self._call(pipe.execute)]

    def delete(self, key: bytes) -> None:
        self._call(self._client.delete, self._name(key))

    @property
    def used_bytes(self) -> int:
        info: Any = self._call(self._client.info, "memory")
        return int(info.get("used_memory", 0))

    @property
    def blocks(self) -> int:
        """Keys in the database: give the pool a database of its own (``redis://host/3``)."""
        return int(self._call(self._client.dbsize))

    def close(self) -> None:
        self._client.close()

    def _name(self, key: bytes) -> bytes:
        return self.prefix + key.hex().encode()

    def _call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise TierUnavailableError(f"kvpool tier '{self.name}' ({self.url}): {exc}") from None
