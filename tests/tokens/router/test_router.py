"""The router on a hand-built catalog: constraints, strategies' orders, errors and the predictor."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blacksoil.core.errors import InvalidRequestError
from blacksoil.tokens.config import (
    EmbeddedReplicaConfig,
    ModelConfig,
    PriceConfig,
    RouterConfig,
    ToleranceConfig,
    UpstreamReplicaConfig,
)
from blacksoil.tokens.errors import NoEligibleModelError, PredictorError, UpstreamUnavailableError
from blacksoil.tokens.router import CatalogEntry, QualityPredictor, Router, RoutingInput
from blacksoil.tokens.router.dataset import LabelledPrompt
from blacksoil.tokens.router.request import parse_model
from blacksoil.tokens.types import ChatCompletionRequest, CompletionRequest, GenerationRequest


@dataclass
class Status:
    available: bool = True
    latency_s: float | None = None


def entry(
    name: str,
    quality: float,
    price: tuple[float, float] = (0.0, 0.0),
    *,
    locality: str = "external",
    window: int | None = None,
    capabilities: tuple[str, ...] = (),
    quality_name: str | None = None,
    routable: bool = True,
) -> CatalogEntry:
    return CatalogEntry(
        name=name,
        input_price=price[0],
        output_price=price[1],
        context_window=window,
        capabilities=frozenset(capabilities),
        locality=locality,
        quality_name=quality_name or name,
        quality_prior=quality,
        routable=routable,
    )


def needs(
    model: str = "auto",
    content: str = "hello",
    config: RouterConfig | None = None,
    meta: dict[str, Any] | None = None,
    **body: Any,
) -> RoutingInput:
    raw = {"model": model, "messages": [{"role": "user", "content": content}], **body}
    params = ChatCompletionRequest.model_validate(raw)
    request = GenerationRequest("chat", params, raw, meta=meta or {})
    return RoutingInput.from_request(request, config or RouterConfig())


def healthy(statuses: dict[str, Status] | None = None) -> Any:
    table = statuses or {}
    return lambda name: table.get(name, Status())


def names(router: Router, routing: RoutingInput, statuses: dict[str, Status] | None = None) -> list[str]:
    return [c.name for c in router.route(routing, healthy(statuses)).candidates]


# Five models; costs rise with quality except for 'd' (free and poor) and 'e' (cheap, middling).
CATALOG = [
    entry("a", 0.90, (10.0, 30.0)),
    entry("b", 0.87, (3.0, 6.0)),
    entry("c", 0.85, (1.0, 2.0)),
    entry("d", 0.50, (0.0, 0.0), locality="on-prem"),
    entry("e", 0.72, (0.5, 0.5)),
]


# -- parsing the model field ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "parsed"),
    [
        ("auto", ("balanced", None)),
        ("auto:balanced", ("balanced", None)),
        ("auto:cost", ("cost", None)),
        ("auto:performance", ("performance", None)),
        ("auto:quality=0.8", ("quality", 0.8)),
        ("auto:quality=0", ("quality", 0.0)),
        ("auto:quality=1", ("quality", 1.0)),
    ],
)
def test_parse_model_accepts(model: str, parsed: tuple[str, float | None]) -> None:
    assert parse_model(model, "balanced") == parsed


def test_parse_model_auto_means_the_default_strategy() -> None:
    assert parse_model("auto", "performance") == ("performance", None)
    assert parse_model("auto:cost", "performance") == ("cost", None)


@pytest.mark.parametrize(
    "model",
    [
        "auto:",
        "auto:fastest",
        "auto:cost=1",
        "auto:quality",
        "auto:quality=",
        "auto:quality=high",
        "auto:quality=1.5",
        "auto:quality=-0.1",
        "auto:quality=nan",
        "auto:Cost",
    ],
)
def test_parse_model_refuses(model: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_model(model, "balanced")
    assert info.value.param == "model" and info.value.status == 400
    assert f"'{model}'" in info.value.message


# -- what the router reads from a request -----------------------------------------------------------


def test_routing_input_from_a_chat_request() -> None:
    body: dict[str, Any] = {
        "model": "auto:cost",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "text", "text": "second "}, {"type": "text", "text": "question"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 50,
        "routing": {"max_cost_usd": 0.5},
    }
    request = GenerationRequest("chat", ChatCompletionRequest.model_validate(body), body, meta={"tenant": "acme"})
    routing = RoutingInput.from_request(request, RouterConfig())
    assert (routing.strategy, routing.min_quality) == ("cost", None)
    assert routing.text == "second question"  # the last user message
    chars = len("Be brief.") + len("first question") + len("an answer") + len("second question")
    assert routing.prompt_tokens == 4 * 4 + -(-chars // 3)
    assert (routing.output_tokens, routing.max_output_tokens) == (50, 50)
    assert routing.capabilities == {"tools", "json_mode"}
    assert routing.tenant == "acme" and routing.sensitive is False and routing.max_cost_usd == 0.5
    assert "routing" not in body  # the gateway's, not forwarded upstream


def test_routing_input_from_a_completion_request_and_its_defaults() -> None:
    body: dict[str, Any] = {"model": "auto", "prompt": "x" * 10}
    request = GenerationRequest("completion", CompletionRequest.model_validate(body), body, meta={"sensitive": True})
    routing = RoutingInput.from_request(request, RouterConfig(default_output_tokens=99, chars_per_token=2.0))
    assert (routing.strategy, routing.text, routing.prompt_tokens) == ("balanced", "x" * 10, 5)
    assert (routing.output_tokens, routing.max_output_tokens) == (99, None)
    assert routing.sensitive is True and routing.capabilities == frozenset()


def test_routing_min_quality_makes_it_a_quality_request() -> None:
    routing = needs("auto", routing={"min_quality": 0.7, "sensitive": True})
    assert (routing.strategy, routing.min_quality, routing.sensitive) == ("quality", 0.7, True)
    # an explicit threshold in the model field wins
    assert needs("auto:quality=0.9", routing={"min_quality": 0.7}).min_quality == 0.9


# -- strategies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "order"),
    [
        # balanced: within 0.06 of the best (a, b, c) by cost; then the rest by quality
        ("auto", ["c", "b", "a", "e", "d"]),
        ("auto:balanced", ["c", "b", "a", "e", "d"]),
        # cost: within 0.2 (a, b, c, e) by cost
        ("auto:cost", ["e", "c", "b", "a", "d"]),
        ("auto:performance", ["a", "b", "c", "e", "d"]),
        ("auto:quality=0.8", ["c", "b", "a", "e", "d"]),
        ("auto:quality=0.6", ["e", "c", "b", "a", "d"]),
        ("auto:quality=0.86", ["b", "a", "c", "e", "d"]),
        ("auto:quality=0.95", ["a", "b", "c", "e", "d"]),  # nobody reaches it: best first
        ("auto:quality=0", ["d", "e", "c", "b", "a"]),  # everybody does: cheapest first
    ],
)
def test_strategy_orders(model: str, order: list[str]) -> None:
    route = Router(RouterConfig(), CATALOG).route(needs(model), healthy())
    assert [c.name for c in route.candidates] == order
    assert route.excluded == {} and route.seconds >= 0


def test_route_reports_strategy_quality_cost_and_latency() -> None:
    config = RouterConfig(default_strategy="performance")
    route = Router(config, CATALOG).route(needs("auto", config=config), healthy({"b": Status(latency_s=0.25)}))
    assert route.strategy == "performance"
    by_name = {c.name: c for c in route.candidates}
    routing = needs("auto")
    assert by_name["a"].quality == 0.90 and by_name["a"].latency_s is None
    assert by_name["a"].cost == pytest.approx((routing.prompt_tokens * 10 + 256 * 30) / 1e6)
    assert by_name["b"].latency_s == 0.25


def test_tolerances_come_from_config() -> None:
    config = RouterConfig(tolerance=ToleranceConfig(balanced=0.0, cost=0.5))
    router = Router(config, CATALOG)
    assert names(router, needs("auto")) == ["a", "b", "c", "e", "d"]
    assert names(router, needs("auto:cost")) == ["d", "e", "c", "b", "a"]


def test_a_model_exactly_at_the_tolerance_is_within_it() -> None:
    # 0.84 is exactly 0.06 below 0.9: the balanced strategy may give that up for a cheaper model
    router = Router(RouterConfig(), [entry("best", 0.90, (10.0, 10.0)), entry("close", 0.84, (1.0, 1.0))])
    assert names(router, needs("auto")) == ["close", "best"]


def test_tolerance_ties_on_cost_go_to_the_better_model() -> None:
    router = Router(RouterConfig(), [entry("x", 0.86, (1.0, 1.0)), entry("y", 0.89, (1.0, 1.0)), entry("z", 0.9)])
    assert names(router, needs("auto")) == ["z", "y", "x"]  # z is free; x and y cost the same


def test_performance_ties_are_broken_by_cost_then_latency() -> None:
    catalog = [
        entry("pricey", 0.8, (5.0, 5.0)),
        entry("cheap", 0.8, (1.0, 1.0)),
        entry("rounded", 0.8004, (2.0, 2.0)),  # equal to 0.8 at the 3 decimals compared
        entry("slow", 0.8, (1.0, 1.0)),
        entry("unmeasured", 0.8, (1.0, 1.0)),
        entry("worse", 0.79, (0.0, 0.0)),
    ]
    statuses = {"cheap": Status(latency_s=0.1), "slow": Status(latency_s=2.0)}
    order = names(Router(RouterConfig(), catalog), needs("auto:performance"), statuses)
    assert order == ["cheap", "slow", "unmeasured", "rounded", "pricey", "worse"]


# -- hard constraints -----------------------------------------------------------------------------


def constrained_router() -> Router:
    config = RouterConfig(tenant_localities={"acme": ["on-prem", "eu"]})
    catalog = [
        entry("ext", 0.9, (10.0, 30.0), capabilities=("tools", "json_mode")),
        entry("eu", 0.8, (1.0, 2.0), locality="eu", capabilities=("tools",)),
        entry("local", 0.6, locality="on-prem", window=100),
    ]
    return Router(config, catalog)


def test_sensitive_requests_stay_in_sensitive_localities() -> None:
    route = constrained_router().route(needs("auto:performance", meta={"sensitive": True}), healthy())
    assert [c.name for c in route.candidates] == ["local"]
    assert route.excluded == {
        "ext": "runs 'external'; sensitive requests stay in: on-prem",
        "eu": "runs 'eu'; sensitive requests stay in: on-prem",
    }
    same = constrained_router().route(needs("auto:performance", routing={"sensitive": True}), healthy())
    assert same.excluded == route.excluded


def test_tenant_localities() -> None:
    router = constrained_router()
    route = router.route(needs("auto:performance", meta={"tenant": "acme"}), healthy())
    assert [c.name for c in route.candidates] == ["eu", "local"]
    assert route.excluded == {"ext": "runs 'external'; tenant 'acme' is limited to: on-prem, eu"}
    assert names(router, needs("auto:performance", meta={"tenant": "other"})) == ["ext", "eu", "local"]


def test_capabilities() -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    route = constrained_router().route(needs("auto:cost", tools=[tool]), healthy())
    assert [c.name for c in route.candidates] == ["eu", "ext"]
    assert route.excluded == {"local": "lacks tools"}
    both = needs("auto:cost", tools=[tool], response_format={"type": "json_object"})
    route = constrained_router().route(both, healthy())
    assert [c.name for c in route.candidates] == ["ext"]
    assert route.excluded == {"eu": "lacks json_mode", "local": "lacks json_mode, tools"}


def test_context_window() -> None:
    router = constrained_router()
    route = router.route(needs("auto:cost", content="word " * 200), healthy())
    assert "local" not in [c.name for c in route.candidates]
    assert route.excluded["local"] == "about 338 prompt tokens + max_tokens do not fit its 100-token context"
    # max_tokens counts against the window too; without it, a short prompt fits
    assert "local" in router.route(needs("auto:cost", max_tokens=95), healthy()).excluded
    assert "local" not in router.route(needs("auto:cost"), healthy()).excluded


def test_budget() -> None:
    route = constrained_router().route(needs("auto:performance", routing={"max_cost_usd": 0.001}), healthy())
    assert [c.name for c in route.candidates] == ["eu", "local"]
    assert route.excluded["ext"].startswith("estimated $0.00")
    assert route.excluded["ext"].endswith("exceeds routing.max_cost_usd $0.001")


def test_unavailable_models_are_skipped() -> None:
    route = constrained_router().route(needs("auto:performance"), healthy({"ext": Status(available=False)}))
    assert [c.name for c in route.candidates] == ["eu", "local"]
    assert route.excluded == {"ext": "unavailable: no healthy replica is taking traffic"}


def test_the_first_failed_constraint_is_the_reason() -> None:
    # ext is external, down and over budget: for a sensitive request, locality is what rules it out
    routing = needs("auto", meta={"sensitive": True}, routing={"max_cost_usd": 0.001})
    route = constrained_router().route(routing, healthy({"ext": Status(available=False)}))
    assert route.excluded["ext"] == "runs 'external'; sensitive requests stay in: on-prem"


def test_all_unavailable_is_a_503() -> None:
    down = {"ext": Status(available=False), "eu": Status(available=False), "local": Status(available=False)}
    with pytest.raises(UpstreamUnavailableError) as info:
        constrained_router().route(needs("auto"), healthy(down))
    assert info.value.status == 503
    assert all(f"{name}: unavailable" in info.value.message for name in down)


def test_some_excluded_and_the_rest_down_is_still_a_503() -> None:
    # local is the only model a sensitive request may use, and it is down: retrying later can work
    routing = needs("auto", meta={"sensitive": True})
    with pytest.raises(UpstreamUnavailableError, match="local: unavailable"):
        constrained_router().route(routing, healthy({"local": Status(available=False)}))


def test_all_excluded_by_constraints_is_a_400() -> None:
    routing = needs("auto", meta={"sensitive": True}, content="word " * 200)
    with pytest.raises(NoEligibleModelError) as info:
        constrained_router().route(routing, healthy())
    error = info.value
    assert (error.status, error.code, error.param) == (400, "no_eligible_model", "model")
    assert "ext: runs 'external'" in error.message and "local: about 338 prompt tokens" in error.message


def test_a_non_routable_model_is_never_chosen() -> None:
    catalog = [entry("hidden", 1.0, locality="on-prem", routable=False), *CATALOG]
    router = Router(RouterConfig(), catalog)
    for model in ("auto", "auto:cost", "auto:performance", "auto:quality=0.99"):
        route = router.route(needs(model), healthy())
        assert "hidden" not in [c.name for c in route.candidates] and "hidden" not in route.excluded
    with pytest.raises(NoEligibleModelError, match="no model takes part in routing"):
        Router(RouterConfig(), [entry("hidden", 1.0, routable=False)]).route(needs(), healthy())


def test_admit_applies_locality_rules_to_named_models() -> None:
    router = constrained_router()
    with pytest.raises(NoEligibleModelError) as info:
        router.admit("ext", needs("ext", meta={"sensitive": True}))
    assert info.value.param == "model" and info.value.status == 400
    assert (
        info.value.message
        == "'ext' may not serve this request: it runs 'external'; sensitive requests stay in: on-prem"
    )
    with pytest.raises(NoEligibleModelError, match="tenant 'acme'"):
        router.admit("ext", needs("ext", meta={"tenant": "acme"}))
    router.admit("local", needs("local", meta={"sensitive": True}))  # on-prem: fine
    router.admit("ext", needs("ext"))  # not sensitive: fine
    router.admit("unknown", needs("unknown", meta={"sensitive": True}))  # not the router's to refuse
    # admitting ignores every other constraint: the named model is what the caller asked for
    router.admit("local", needs("local", content="word " * 200))


# -- the quality predictor ------------------------------------------------------------------------


def _prompt(i: int, topic: str) -> str:
    """Lengths, numbers and sentences vary alike for both topics: only the topic's words differ."""
    r = random.Random(i)
    tail = r.choice(["", f" It has {r.randint(2, 9)} parts.", " Show your work."])
    return f"{r.choice(['Tom', 'Ana', 'Eve', 'Rajesh'])} asks about {topic}, case {r.randint(1, 999)}.{tail} Why?"


@pytest.fixture(scope="module")
def predictor() -> QualityPredictor:
    """'vendor/big' answers everything; 'vendor/small' answers about apples but not quantum physics."""
    apples = [LabelledPrompt(_prompt(i, "fresh apples"), {"vendor/big": 1, "vendor/small": 1}) for i in range(30)]
    quantum = [LabelledPrompt(_prompt(i, "quantum spin"), {"vendor/big": 1, "vendor/small": 0}) for i in range(30)]
    return QualityPredictor.fit(apples + quantum, bits=12)


def predicted_router(predictor: QualityPredictor) -> Router:
    catalog = [
        entry("big", 0.1, (10.0, 30.0), quality_name="vendor/big"),
        entry("small", 0.99, (0.1, 0.1), quality_name="vendor/small"),
        entry("local", 0.42, (0.0, 0.0), locality="on-prem"),
    ]
    return Router(RouterConfig(), catalog, predictor)


def test_predictions_replace_priors_under_the_quality_name(predictor: QualityPredictor) -> None:
    router = predicted_router(predictor)
    text = "Mia asks about fresh apples, case 5. Why?"
    expected = predictor.predict(text)
    route = router.route(needs("auto:performance", content=text), healthy())
    quality = {c.name: c.quality for c in route.candidates}
    assert quality == {"big": expected["vendor/big"], "small": expected["vendor/small"], "local": 0.42}
    assert router.predict(text, router.catalog) == quality


def test_the_route_follows_the_prompt(predictor: QualityPredictor) -> None:
    router = predicted_router(predictor)
    apples = needs("auto:cost", content="Mia asks about fresh apples, case 5. Why?")
    quantum = needs("auto:cost", content="Mia asks about quantum spin, case 5. Why?")
    # both predicted good on apples (within the cost tolerance): the cheaper one; on quantum physics, only big
    assert names(router, apples)[0] == "small"
    assert names(router, quantum)[0] == "big"


def test_without_a_predictor_the_priors_rank() -> None:
    router = Router(RouterConfig(), [entry("big", 0.1, (10.0, 30.0)), entry("small", 0.99, (0.1, 0.1))])
    route = router.route(needs("auto:performance", content="anything"), healthy())
    assert [(c.name, c.quality) for c in route.candidates] == [("small", 0.99), ("big", 0.1)]


# -- the catalog from config ----------------------------------------------------------------------


def test_catalog_entry_defaults_for_an_embedded_model() -> None:
    model = ModelConfig(name="gemma", replicas=[EmbeddedReplicaConfig(n_ctx=4096), EmbeddedReplicaConfig(n_ctx=2048)])
    e = CatalogEntry.from_config(model)
    assert (e.locality, e.context_window, e.quality_name, e.quality_prior, e.routable) == (
        "on-prem",
        2048,
        "gemma",
        0.5,
        True,
    )
    assert (e.input_price, e.output_price, e.capabilities) == (0.0, 0.0, frozenset())


def test_catalog_entry_defaults_for_an_upstream_model() -> None:
    upstream = UpstreamReplicaConfig(base_url="http://127.0.0.1:9/v1")  # type: ignore[arg-type]
    e = CatalogEntry.from_config(ModelConfig(name="remote", replicas=[upstream]))
    assert (e.locality, e.context_window, e.quality_name) == ("external", None, "remote")
    mixed = CatalogEntry.from_config(ModelConfig(name="mixed", replicas=[upstream, EmbeddedReplicaConfig()]))
    assert (mixed.locality, mixed.context_window) == ("external", None)


def test_catalog_entry_takes_what_config_sets() -> None:
    model = ModelConfig(
        name="gemma",
        replicas=[EmbeddedReplicaConfig(n_ctx=4096)],
        price=PriceConfig(input=0.5, output=1.5),
        context_window=1000,
        capabilities=["tools"],
        locality="eu",
        quality_name="google/gemma",
        quality=0.3,
        routable=False,
    )
    e = CatalogEntry.from_config(model)
    assert e == entry(
        "gemma",
        0.3,
        (0.5, 1.5),
        locality="eu",
        window=1000,
        capabilities=("tools",),
        quality_name="google/gemma",
        routable=False,
    )
    assert e.cost(1000, 2000) == pytest.approx((1000 * 0.5 + 2000 * 1.5) / 1e6)


def test_refresh_picks_up_a_retrained_predictor_and_survives_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "predictor.npz"
    router = Router(RouterConfig(), [entry("a", 0.5), entry("b", 0.5)], predictor_path=path)
    assert router.refresh() is False and router.predictor is None  # nothing there yet: priors
    with pytest.raises(PredictorError, match="blacksoil router train"):
        router.refresh(strict=True)

    first = [LabelledPrompt(f"question number {i} about apples", {"a": 1.0, "b": float(i % 2)}) for i in range(12)]
    QualityPredictor.fit(first, bits=10).save(path)
    assert router.refresh() is True
    assert router.predictor is not None and router.predictor.models == ["a", "b"]
    assert router.refresh() is False  # unchanged file: no reload

    second = [LabelledPrompt(f"question number {i} about pears", {"a": 1.0, "c": 0.0}) for i in range(12)]
    QualityPredictor.fit(second, bits=10).save(path)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # a new version even within one mtime tick
    assert router.refresh() is True
    assert router.predictor.models == ["a", "c"]

    path.write_bytes(b"not a predictor")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000))
    assert router.refresh() is False
    assert router.predictor.models == ["a", "c"]  # the broken file did not replace the good one
