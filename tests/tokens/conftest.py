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
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from blacksoil.config import BlacksoilConfig
from blacksoil.core.home import Home
from blacksoil.server import build_app
from blacksoil.tokens.config import (
    BreakerConfig,
    ModelConfig,
    RouterConfig,
    TimeoutConfig,
    TokensConfig,
    UpstreamReplicaConfig,
)
from tests.helpers import serve
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


GatewayStarter = Callable[..., RunningGateway]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[GatewayStarter]:
    """``start_gateway({"chat": [replica(...), ...]}, timeouts={...}, breaker={...})`` → RunningGateway.

    A model's value may also be a whole :class:`ModelConfig` (price, locality… for routing tests).
    """
    counter = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(
            models: Mapping[str, Sequence[UpstreamReplicaConfig] | ModelConfig],
            *,
            timeouts: Mapping[str, float] | None = None,
            breaker: Mapping[str, Any] | None = None,
            keepalive_s: float = KEEPALIVE_S,
            balancer: str = "least_loaded",
            health_interval_s: float = 3600,  # the health loop stays out of tests that do not ask for it
            router: RouterConfig | None = None,
        ) -> RunningGateway:
            tokens = TokensConfig(
                models=[
                    spec if isinstance(spec, ModelConfig) else ModelConfig(name=name, replicas=list(spec))
                    for name, spec in models.items()
                ],
                router=router or RouterConfig(),
                balancer=balancer,
                health_interval_s=health_interval_s,
                keepalive_s=keepalive_s,
                timeouts=TimeoutConfig(**{**FAST_TIMEOUTS, **(timeouts or {})}),
                # By default the breaker never opens; the breaker tests set it explicitly.
                breaker=BreakerConfig(**{"failure_threshold": 1000, "cooldown_s": 30.0, **(breaker or {})}),
            )
            home = tmp_path / f"home{next(counter)}"
            app = build_app(BlacksoilConfig(tokens=tokens), Home(home), planes=("tokens",))
            url = stack.enter_context(serve(app))
            return RunningGateway(url, int(url.rsplit(":", 1)[1]), app)

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
