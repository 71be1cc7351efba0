"""One ASGI app that composes the planes' routers, with health, readiness and metrics.

``build_app(config, home, planes)`` builds the app for the named planes (all by default), so the
same code serves ``blacksoil up`` (every plane in one process) and ``blacksoil serve PLANE``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import Response

from blacksoil import __version__
from blacksoil.config import BlacksoilConfig
from blacksoil.core.errors import ConfigError
from blacksoil.core.home import Home
from blacksoil.core.http import JSONBytesResponse, install_error_handlers
from blacksoil.core.metrics import new_registry, render
from blacksoil.kvpool import KVPool, build_pool
from blacksoil.kvpool import api as kvpool_api
from blacksoil.kvpool.metrics import PoolCollector
from blacksoil.tokens import api as tokens_api
from blacksoil.tokens.factory import build_gateway

PLANES = ("tokens",)


def build_app(
    config: BlacksoilConfig,
    home: Home,
    planes: Sequence[str] = PLANES,
    progress: Callable[[str], None] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> FastAPI:
    unknown = [p for p in planes if p not in PLANES]
    if unknown:
        raise ConfigError(f"unknown plane(s) {', '.join(unknown)}; valid: {', '.join(PLANES)}")
    registry = new_registry()
    kv_pool = _kv_pool(config, home) if "tokens" in planes else None
    gateway = None
    if "tokens" in planes:
        gateway = build_gateway(config.tokens, home, registry, progress, kv_pool, config.kvpool.block_tokens)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if gateway is not None:
            await gateway.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            if gateway is not None:
                await gateway.close()
            if kv_pool is not None:
                kv_pool.close()

    app = FastAPI(title="blacksoil", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.state.gateway = gateway
    app.state.kv_pool = kv_pool

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    async def healthz() -> Response:
        return JSONBytesResponse({"status": "ok"})

    @app.get("/readyz", tags=["ops"], summary="Every plane can serve")
    async def readyz() -> Response:
        ready = gateway is None or gateway.ready
        return JSONBytesResponse({"status": "ready" if ready else "not ready"}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def metrics() -> Response:
        body, content_type = render(registry)
        return Response(body, media_type=content_type)

    if gateway is not None:
        app.include_router(tokens_api.router(gateway))
    if kv_pool is not None:
        registry.register(PoolCollector(kv_pool))
        app.include_router(kvpool_api.router(kv_pool, config.kvpool))
    return app


def _kv_pool(config: BlacksoilConfig, home: Home) -> KVPool | None:
    """The instance's KV pool, built only when some embedded replica uses it."""
    wanted = any(getattr(r, "kv_pool", False) for m in config.tokens.models for r in m.replicas)
    return build_pool(config.kvpool, home) if wanted else None
