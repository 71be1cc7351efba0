"""Fixtures for the token plane's failure tests: a misbehaving upstream and gateways in front of it.

* ``upstream``: a fresh :class:`MisbehavingUpstream` per test (a real aiohttp server on loopback).
* ``refused_url``: an OpenAI base URL on a loopback port where nothing listens.
* ``start_gateway``: builds the real app (``build_app(..., planes=("tokens",))``) for one scenario
  and serves it with uvicorn on 127.0.0.1 (an ephemeral port) in a background thread; every gateway
  started in a test is shut down (lifespan included) when the test ends.
* ``http``: an httpx client that never uses a proxy.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from blacksoil.config import BlacksoilConfig
from blacksoil.core.home import Home
from blacksoil.server import build_app
from blacksoil.tokens.config import (
    BreakerConfig,
    ModelConfig,
    TimeoutConfig,
    TokensConfig,
    UpstreamReplicaConfig,
)
from tests.tokens.upstream_server import MisbehavingUpstream, refused_port

#: Short limits so every failure shows up in about a second.
FAST_TIMEOUTS = {"connect_s": 1.0, "first_token_s": 1.0, "idle_s": 1.0, "total_s": 5.0, "health_s": 1.0}
KEEPALIVE_S = 0.2


@dataclass
class RunningGateway:
    url: str  # http://127.0.0.1:PORT
    port: int
    app: Any

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway


def replica(base_url: str, behaviour: str, name: str | None = None) -> UpstreamReplicaConfig:
    """An upstream replica whose requests name ``behaviour`` as the model (see upstream_server)."""
    return UpstreamReplicaConfig(base_url=base_url, model=behaviour, name=name)  # type: ignore[arg-type]


@contextlib.contextmanager
def serve_app(app: Any, startup_timeout_s: float = 15.0) -> Iterator[tuple[str, int]]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (ephemeral port) in a thread; yield (url, port)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        loop="asyncio",
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="gateway-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the gateway under test did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(15)
        if thread.is_alive():
            raise RuntimeError("the gateway under test did not shut down")


GatewayStarter = Callable[..., RunningGateway]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[GatewayStarter]:
    """``start_gateway({"chat": [replica(...), ...]}, timeouts={...}, breaker={...})`` → RunningGateway."""
    counter = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(
            models: Mapping[str, Sequence[UpstreamReplicaConfig]],
            *,
            timeouts: Mapping[str, float] | None = None,
            breaker: Mapping[str, Any] | None = None,
            keepalive_s: float = KEEPALIVE_S,
            balancer: str = "least_loaded",
        ) -> RunningGateway:
            tokens = TokensConfig(
                models=[ModelConfig(name=name, replicas=list(replicas)) for name, replicas in models.items()],
                balancer=balancer,
                health_interval_s=3600,  # keep the health loop out of these tests
                keepalive_s=keepalive_s,
                timeouts=TimeoutConfig(**{**FAST_TIMEOUTS, **(timeouts or {})}),
                # By default the breaker never opens; the breaker tests set it explicitly.
                breaker=BreakerConfig(**{"failure_threshold": 1000, "cooldown_s": 30.0, **(breaker or {})}),
            )
            home = tmp_path / f"home{next(counter)}"
            app = build_app(BlacksoilConfig(tokens=tokens), Home(home), planes=("tokens",))
            url, port = stack.enter_context(serve_app(app))
            return RunningGateway(url, port, app)

        yield start


@pytest.fixture
def upstream() -> Iterator[MisbehavingUpstream]:
    with MisbehavingUpstream() as server:
        yield server


@pytest.fixture
def refused_url() -> Iterator[str]:
    with refused_port() as port:
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(15.0)) as client:
        yield client
