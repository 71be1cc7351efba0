"""Shared fixtures. The expensive one, the embedded model behind a real server, is session-wide."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blacksoil.config import BlacksoilConfig
from blacksoil.core.home import Home
from blacksoil.server import build_app
from blacksoil.tokens.config import EmbeddedReplicaConfig, ModelConfig, TokensConfig
from tests.helpers import serve

try:
    import llama_cpp  # noqa: F401

    from blacksoil.tokens.weights import ensure_default_model

    HAVE_ENGINE = True
except ImportError:
    HAVE_ENGINE = False

MODEL = "gemma-3-270m"
TEST_CTX = 2048


@dataclass
class EmbeddedServer:
    url: str
    app: Any

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A real gateway on loopback serving the embedded Gemma 3 270M (loaded once per session)."""
    if not HAVE_ENGINE:
        pytest.skip("the embedded engine is not installed: run `make test` (it builds llama-cpp-python)")
    model_path = ensure_default_model(Path.home() / ".cache" / "blacksoil" / "test-models")
    home = Home(tmp_path_factory.mktemp("home"))
    replica = EmbeddedReplicaConfig(model_path=str(model_path), n_ctx=TEST_CTX)
    config = BlacksoilConfig(tokens=TokensConfig(models=[ModelConfig(name=MODEL, replicas=[replica])]))
    app = build_app(config, home, planes=("tokens",))
    with serve(app) as url:
        yield EmbeddedServer(url, app)
