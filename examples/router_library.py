"""Use the model router as a library: train a quality predictor, then route a few prompts.

.venv/bin/python examples/router_library.py [LABELLED_DATA]

LABELLED_DATA defaults to RouteLLM's GSM8K evaluations in ../shared/data; any CSV or JSONL of
"which model answered which prompt" works (see docs/router.md). Nothing is served or called:
the router only decides, and every model counts as healthy.
"""

from __future__ import annotations

import sys
from pathlib import Path

from blacksoil.tokens.config import ModelConfig, PriceConfig, RouterConfig, TokensConfig, UpstreamReplicaConfig
from blacksoil.tokens.router import QualityPredictor, Router, RoutingInput, StaticStatus, build_catalog
from blacksoil.tokens.router import dataset as labelled
from blacksoil.tokens.types import ChatCompletionRequest, GenerationRequest

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/router/routellm/gsm8k_responses.csv"
PROMPTS = [
    "What is 2 + 3?",
    "A train leaves at 3:40 pm and travels 210 miles at 60 mph, stopping twice for 15 minutes. "
    "A second train leaves 45 minutes later at 75 mph. At what time does the second train pass the first?",
]


def model(name: str, quality_name: str, price: tuple[float, float], locality: str) -> ModelConfig:
    replica = UpstreamReplicaConfig(base_url="http://127.0.0.1:9/v1")  # type: ignore[arg-type]  # never called
    return ModelConfig(
        name=name,
        replicas=[replica],
        price=PriceConfig(input=price[0], output=price[1]),
        locality=locality,
        quality_name=quality_name,
    )


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    if not data.exists():
        sys.exit(f"no labelled data at {data}; pass a CSV or JSONL path")
    predictor = QualityPredictor.fit(labelled.load(data))
    print(f"trained on {predictor.info['examples']}")

    config = TokensConfig(
        models=[
            model("gpt-4", "gpt-4-1106-preview", (10.0, 30.0), "external"),
            model("mixtral", "mistralai/Mixtral-8x7B-Instruct-v0.1", (0.24, 0.24), "on-prem"),
        ],
        router=RouterConfig(),
    )
    router = Router(config.router, build_catalog(config), predictor)
    for prompt in PROMPTS:
        print(f"\n{prompt[:70]}…")
        for strategy in ("auto:cost", "auto", "auto:performance", "auto:quality=0.9"):
            body = {"model": strategy, "messages": [{"role": "user", "content": prompt}]}
            request = GenerationRequest("chat", ChatCompletionRequest.model_validate(body), body)
            route = router.route(RoutingInput.from_request(request, config.router), lambda _: StaticStatus())
            ranked = ", ".join(f"{c.name} (q={c.quality:.2f}, ${c.cost:.5f})" for c in route.candidates)
            print(f"  {strategy:<18} → {ranked}   [{route.seconds * 1000:.2f} ms]")


if __name__ == "__main__":
    main()
