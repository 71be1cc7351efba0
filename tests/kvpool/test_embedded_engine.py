"""The embedded engine with ``kv_pool = true``, through the real server: a repeated prompt is
restored from the pool and answers exactly as it did the first time; the pool is visible at
/v1/kvpool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from blacksoil.cli import app
from blacksoil.config import BlacksoilConfig
from blacksoil.core.errors import ConfigError
from blacksoil.core.home import Home
from blacksoil.kvpool import KVPoolConfig, MemoryTierConfig
from blacksoil.server import build_app
from blacksoil.tokens.backends import ReplicaSpec, make_engine
from blacksoil.tokens.config import EmbeddedReplicaConfig, ModelConfig, TokensConfig
from tests.conftest import HAVE_ENGINE
from tests.helpers import serve

pytestmark = pytest.mark.embedded

if HAVE_ENGINE:
    from blacksoil.tokens.weights import ensure_default_model

QUESTION = "The harbour master keeps a log of every ship. " * 30 + "Which ship came in last?"


def config(model_path: Path, kv_pool: bool = True) -> BlacksoilConfig:
    replica = EmbeddedReplicaConfig(model_path=str(model_path), n_ctx=2048, kv_pool=kv_pool, embeddings=False)
    return BlacksoilConfig(
        tokens=TokensConfig(models=[ModelConfig(name="gemma", replicas=[replica])]),
        kvpool=KVPoolConfig(block_tokens=64, tiers=[MemoryTierConfig(capacity_mb=256)]),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not HAVE_ENGINE:
        pytest.skip("the embedded engine is not installed: run `make test` (it builds llama-cpp-python)")
    model = ensure_default_model(Path.home() / ".cache" / "blacksoil" / "test-models")
    app = build_app(config(model), Home(tmp_path_factory.mktemp("home")), planes=("tokens",))
    with serve(app) as url:
        yield url


def test_a_repeated_prompt_is_restored_and_answers_the_same(server: str) -> None:
    body = {"model": "gemma", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 12, "temperature": 0}
    with httpx.Client(trust_env=False, timeout=120) as http:
        first = http.post(server + "/v1/chat/completions", json=body).json()
        whole_blocks = first["usage"]["prompt_tokens"] // 64
        stored = http.get(server + "/v1/kvpool").json()["tiers"][0]["blocks"]
        assert stored == 2 * whole_blocks > 0  # each block: its global and its sliding-window cells
        second = http.post(server + "/v1/chat/completions", json=body).json()
        memory = http.get(server + "/v1/kvpool").json()["tiers"][0]
    assert second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
    assert memory["hits"] >= whole_blocks - 1  # every whole block but the one holding the last token
    assert memory["blocks"] == stored  # nothing stored twice


def test_kv_pool_on_a_replica_needs_the_tokens_plane_pool(tmp_path: Path) -> None:
    cfg = config(tmp_path / "model.gguf")
    (tmp_path / "model.gguf").write_bytes(b"")
    replica = cfg.tokens.models[0].replicas[0]
    with pytest.raises(ConfigError, match="no KV pool"):
        make_engine(ReplicaSpec("gemma/0", "gemma", replica, cfg.tokens, tmp_path))


def test_the_pool_shows_in_metrics_and_in_the_cli(server: str) -> None:
    with httpx.Client(trust_env=False, timeout=30) as http:
        metrics = http.get(server + "/metrics").text
    assert 'blacksoil_kvpool_capacity_bytes{tier="memory"} 2.68435456e+08' in metrics
    assert 'blacksoil_kvpool_lookups_total{tier="memory"}' in metrics
    result = CliRunner().invoke(app, ["kvpool", "stats", "--url", server, "--json"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["block_tokens"] == 64 and view["tiers"][0]["tier"] == "memory"
    table = CliRunner().invoke(app, ["kvpool", "stats", "--url", server])
    assert table.exit_code == 0 and "memory" in table.stdout and "eviction lru" in table.stdout


def test_kvpool_stats_says_when_the_instance_is_not_there() -> None:
    result = CliRunner().invoke(app, ["kvpool", "stats", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the instance" in result.output
