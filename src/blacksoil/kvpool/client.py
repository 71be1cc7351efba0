"""HTTP client of the KV pool's API, with the core's method names."""

from __future__ import annotations

from typing import Any

import aiohttp

from blacksoil.core.errors import BlacksoilError


class KVPoolClient:
    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def describe(self) -> dict[str, Any]:
        """Block size, eviction policy and per tier: capacity, fill, lookups, hits, evictions."""
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.get(self.base_url + "/v1/kvpool") as resp,
        ):
            body: Any = await resp.json(content_type=None)
            if resp.status >= 400:
                error = body.get("error", {}) if isinstance(body, dict) else {}
                raise BlacksoilError(error.get("message") or f"HTTP {resp.status}")
        return dict(body)
