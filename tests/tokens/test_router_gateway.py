"""``model: "auto"`` through the real gateway, over loopback HTTP, in front of real upstreams.

Two models with opposite trade-offs: ``big`` (external, expensive, has tools, predicted better)
and ``small`` (on-prem, cheap, short context). No predictor is loaded, so the configured
``quality`` priors (0.9 and 0.7) stand in for predictions and the choices below follow from
the strategies' rules alone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from blacksoil.core.home import Home
from blacksoil.tokens.client import TokensClient
from blacksoil.tokens.config import ModelConfig, PriceConfig, RouterConfig, TokensConfig, UpstreamReplicaConfig
from blacksoil.tokens.errors import PredictorError
from blacksoil.tokens.factory import build_router
from blacksoil.tokens.router import LabelledPrompt, QualityPredictor
from tests.tokens.conftest import GatewayStarter, RunningGateway, replica
from tests.tokens.test_upstream_failures import chat, data_events, metric, wait_for
from tests.tokens.upstream_server import MisbehavingUpstream


def catalog(big: UpstreamReplicaConfig, small: UpstreamReplicaConfig) -> dict[str, ModelConfig]:
    return {
        "big": ModelConfig(
            name="big",
            replicas=[big],
            price=PriceConfig(input=10.0, output=30.0),
            capabilities=["tools"],
            locality="external",
            quality=0.9,
        ),
        "small": ModelConfig(
            name="small",
            replicas=[small],
            price=PriceConfig(input=0.2, output=0.2),
            context_window=200,
            locality="on-prem",
            quality=0.7,
        ),
    }


@pytest.fixture
def two_models(start_gateway: GatewayStarter, upstream: MisbehavingUpstream) -> RunningGateway:
    upstream.alias("big-model", "ok")
    upstream.alias("small-model", "ok")
    router = RouterConfig(tenant_localities={"acme": ["on-prem"]})
    return start_gateway(
        catalog(replica(upstream.url, "big-model"), replica(upstream.url, "small-model")), router=router
    )


async def served(http: httpx.AsyncClient, gw: RunningGateway, body: dict[str, Any], **headers: str) -> str:
    """The model that answered, after checking the header and the body agree."""
    r = await http.post(gw.v1 + "/chat/completions", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["x-blacksoil-model"] == r.json()["model"]
    return str(r.json()["model"])


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("auto", "big"),  # balanced: 0.7 is more than 0.06 below 0.9
        ("auto:balanced", "big"),
        ("auto:performance", "big"),
        ("auto:cost", "small"),  # within the 0.2 cost tolerance
        ("auto:quality=0.6", "small"),  # the cheapest above 0.6
        ("auto:quality=0.8", "big"),
        ("auto:quality=0.95", "big"),  # nobody reaches it: the best one
    ],
)
async def test_strategies_choose_by_quality_and_cost(
    two_models: RunningGateway, http: httpx.AsyncClient, model: str, expected: str
) -> None:
    assert await served(http, two_models, chat(model)) == expected


async def test_routing_object_sets_a_quality_floor(two_models: RunningGateway, http: httpx.AsyncClient) -> None:
    assert await served(http, two_models, chat("auto", routing={"min_quality": 0.5})) == "small"


async def test_hard_constraints_are_never_traded(
    two_models: RunningGateway, http: httpx.AsyncClient, upstream: MisbehavingUpstream
) -> None:
    gw = two_models
    # sensitive (header or body) and tenant rules keep data on-prem, even for auto:performance
    assert await served(http, gw, chat("auto:performance"), **{"x-blacksoil-sensitive": "true"}) == "small"
    assert await served(http, gw, chat("auto:performance", routing={"sensitive": True})) == "small"
    assert await served(http, gw, chat("auto:performance"), **{"x-blacksoil-tenant": "acme"}) == "small"
    # tools are a capability only big has; a prompt too long for small's 200-token window
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert await served(http, gw, chat("auto:cost", tools=[tool])) == "big"
    long = {"model": "auto:cost", "messages": [{"role": "user", "content": "word " * 400}]}
    assert await served(http, gw, long) == "big"
    # a budget rules out big's estimated cost
    assert await served(http, gw, chat("auto:performance", routing={"max_cost_usd": 0.001})) == "small"
    # the routing object is the gateway's, not the upstream's
    assert all("routing" not in c.body for c in upstream.calls_for())


async def test_no_eligible_model_is_a_400_that_says_why(two_models: RunningGateway, http: httpx.AsyncClient) -> None:
    body = chat("auto", routing={"max_cost_usd": 1e-12})
    r = await http.post(two_models.v1 + "/chat/completions", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "no_eligible_model"
    assert "big: estimated $" in error["message"] and "small: estimated $" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (chat("auto:fastest"), "model"),
        (chat("auto:quality=high"), "model"),
        (chat("auto:quality=1.5"), "model"),
        (chat("auto", routing={"min_quality": 2}), "min_quality"),
        (chat("auto", routing={"colour": "red"}), "colour"),
        (chat("auto", routing="cheap"), "routing"),
    ],
)
async def test_bad_routing_input_is_a_400_naming_it(
    two_models: RunningGateway, http: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    r = await http.post(two_models.v1 + "/chat/completions", json=body)
    assert r.status_code == 400, r.text
    assert param in (r.json()["error"]["param"] or "")


@pytest.mark.parametrize("failure", ["error500", "refused"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_failing_choice_falls_back_to_the_next_model(
    start_gateway: GatewayStarter,
    upstream: MisbehavingUpstream,
    refused_url: str,
    http: httpx.AsyncClient,
    failure: str,
    stream: bool,
) -> None:
    upstream.alias("big-model", "ok")
    small = replica(refused_url, "small-model") if failure == "refused" else replica(upstream.url, "error500")
    gw = start_gateway(catalog(replica(upstream.url, "big-model"), small))
    r = await http.post(gw.v1 + "/chat/completions", json=chat("auto:cost", stream=stream))
    assert r.status_code == 200, r.text
    assert r.headers["x-blacksoil-model"] == "big"
    if stream:
        chunks = [orjson.loads(e) for e in data_events(r.content) if e != b"[DONE]"]
        assert chunks and {c["model"] for c in chunks} == {"big"}
    else:
        assert r.json()["model"] == "big"
    assert await metric(http, gw, "blacksoil_router_fallbacks_total", strategy="cost", model="small") == 1
    assert await metric(http, gw, "blacksoil_router_decisions_total", strategy="cost", model="big") == 1


async def test_sensitive_requests_never_fall_back_to_an_external_model(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, refused_url: str, http: httpx.AsyncClient
) -> None:
    upstream.alias("big-model", "ok")
    gw = start_gateway(catalog(replica(upstream.url, "big-model"), replica(refused_url, "small-model")))
    r = await http.post(gw.v1 + "/chat/completions", json=chat("auto", routing={"sensitive": True}))
    assert r.status_code == 503
    assert "small" in r.json()["error"]["message"]
    assert upstream.count("big-model") == 0


async def test_catalog_shows_facts_and_live_state(two_models: RunningGateway, http: httpx.AsyncClient) -> None:
    await served(http, two_models, chat("auto:cost"))
    async with TokensClient(two_models.url) as client:
        view = await client.catalog()
    by_name = {m["model"]: m for m in view["models"]}
    assert by_name["small"]["locality"] == "on-prem" and by_name["big"]["capabilities"] == ["tools"]
    assert by_name["small"]["latency_s"] > 0 and by_name["big"]["latency_s"] is None
    assert by_name["big"]["quality"] == "prior 0.9"
    assert view["predictor"] is None and view["default_strategy"] == "balanced"


async def test_named_models_are_not_routed(two_models: RunningGateway, http: httpx.AsyncClient) -> None:
    assert await served(http, two_models, chat("small")) == "small"
    assert await metric(http, two_models, "blacksoil_router_decisions_total", strategy="balanced", model="small") == 0


async def test_locality_rules_bind_requests_that_name_their_model(
    two_models: RunningGateway, http: httpx.AsyncClient, upstream: MisbehavingUpstream
) -> None:
    r = await http.post(two_models.v1 + "/chat/completions", json=chat("big"), headers={"x-blacksoil-tenant": "acme"})
    assert r.status_code == 400
    assert "tenant 'acme' is limited to: on-prem" in r.json()["error"]["message"]
    r = await http.post(two_models.v1 + "/chat/completions", json=chat("big", routing={"sensitive": True}))
    assert r.status_code == 400
    assert upstream.count("big-model") == 0
    assert await served(http, two_models, chat("small", routing={"sensitive": True})) == "small"


async def test_a_retrained_predictor_is_picked_up_while_serving(
    start_gateway: GatewayStarter, upstream: MisbehavingUpstream, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    def train(weak_wins: bool) -> None:
        examples = [
            LabelledPrompt(f"case {i}: what is {i} plus {i + 1}?", {"big": 1.0 - weak_wins, "small": 1.0 * weak_wins})
            for i in range(20)
        ]
        QualityPredictor.fit(examples, bits=10).save(path)

    path = tmp_path / "predictor.npz"
    train(weak_wins=False)
    upstream.alias("big-model", "ok")
    upstream.alias("small-model", "ok")
    models = catalog(replica(upstream.url, "big-model"), replica(upstream.url, "small-model"))
    gw = start_gateway(models, router=RouterConfig(predictor=str(path)), health_interval_s=0.05)
    body = chat("auto:performance", messages=[{"role": "user", "content": "case 3: what is 3 plus 4?"}])
    assert await served(http, gw, body) == "big"

    train(weak_wins=True)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # a new version even within one mtime tick
    assert await wait_for(lambda: _small_wins(gw), 3.0)
    assert await served(http, gw, body) == "small"


def _small_wins(gw: RunningGateway) -> bool:
    predicted = gw.gateway.router.predictor.predict("case 3: what is 3 plus 4?")
    return bool(predicted["small"] > predicted["big"])


async def test_a_configured_predictor_that_is_missing_fails_the_start(tmp_path: Path) -> None:
    config = TokensConfig(router=RouterConfig(predictor=str(tmp_path / "nope.npz")))
    with pytest.raises(PredictorError, match="blacksoil router train"):
        build_router(config, Home(tmp_path))
