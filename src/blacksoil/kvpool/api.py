"""HTTP for the KV pool: a read-only view of its tiers (fill, hits, evictions). No logic lives here."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from blacksoil.core.http import JSONBytesResponse
from blacksoil.kvpool.config import KVPoolConfig
from blacksoil.kvpool.pool import KVPool


def router(pool: KVPool, config: KVPoolConfig) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["kvpool"])

    @api.get("/kvpool", summary="The KV pool's tiers: capacity, fill, lookups, hits, evictions")
    async def describe() -> Response:
        tiers = await asyncio.to_thread(pool.describe)  # a remote tier answers over the network
        body = {"block_tokens": config.block_tokens, "eviction": config.eviction, "tiers": tiers}
        return JSONBytesResponse(body)

    return api
