"""``blacksoil router``: train the quality predictor and see how a prompt would be routed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import orjson
import typer
from rich.console import Console
from rich.table import Table

from blacksoil.cli_support import console, fail, load
from blacksoil.core.errors import BlacksoilError
from blacksoil.core.home import Home
from blacksoil.tokens.factory import build_router, default_predictor_path
from blacksoil.tokens.router import QualityPredictor, RoutingInput, StaticStatus
from blacksoil.tokens.router import dataset as labelled
from blacksoil.tokens.types import ChatCompletionRequest, GenerationRequest

HEALTHY = StaticStatus()

router_app = typer.Typer(help="Train the model router's quality predictor; explain routing decisions.")


@router_app.command()
def train(
    data: Annotated[list[Path], typer.Argument(help="Labelled prompts: CSV or JSONL files, or directories of them.")],
    out: Annotated[Path | None, typer.Option(help="Where to write it [default: <home>/router/predictor.npz].")] = None,
    exclude: Annotated[
        Path | None, typer.Option(help="JSONL of prompts to leave out (key 'prompt' or 'eval_prompt').")
    ] = None,
    c: Annotated[float, typer.Option(help="Inverse regularisation strength; larger fits the data closer.")] = 1.0,
    holdout: Annotated[float, typer.Option(help="Share held out to report accuracy before the final fit.")] = 0.2,
) -> None:
    """Fit the predictor on labelled prompts (which model answered which prompt well) and save it.

    The gateway loads it at start from tokens.router.predictor, or from the default path.
    """
    try:
        skip = _excluded(exclude) if exclude else set()
        examples = [ex for path in data for ex in labelled.load(path, skip)]
        console.print(f"{len(examples)} labelled prompts from {len(data)} source(s)")
        if 0 < holdout < 1:
            train_set, test_set = labelled.split(examples, holdout)
            with console.status(f"fitting on {len(train_set)}, checking on {len(test_set)} held out…"):
                _report(QualityPredictor.fit(train_set, c=c), test_set)
        with console.status(f"fitting on all {len(examples)}…"):
            started = time.perf_counter()
            predictor = QualityPredictor.fit(examples, c=c)
        target = out or default_predictor_path(Home.resolve())
        predictor.save(target)
    except BlacksoilError as exc:
        fail(exc.message)
    console.print(f"saved {target} ({len(predictor.models)} models, {time.perf_counter() - started:.1f}s to fit)")


@router_app.command()
def explain(
    prompt: Annotated[str, typer.Argument(help="The user message to route.")],
    model: Annotated[str, typer.Option(help="auto, auto:cost, auto:performance or auto:quality=<0..1>.")] = "auto",
    sensitive: Annotated[bool, typer.Option(help="Route as a sensitive request.")] = False,
    tenant: Annotated[str | None, typer.Option(help="Route for this tenant.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="The request's max_tokens.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A TOML or YAML config file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show how the configured router ranks the models for a prompt (every model counted as healthy)."""
    try:
        cfg = load(config)
        router = build_router(cfg.tokens, Home.resolve())
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
        params = ChatCompletionRequest.model_validate(body)
        meta = {"sensitive": sensitive, "tenant": tenant}
        request = GenerationRequest("chat", params, body, meta=meta)
        route = router.route(RoutingInput.from_request(request, cfg.tokens.router), lambda _: HEALTHY)
    except BlacksoilError as exc:
        fail(exc.message)
    rows = [
        {"rank": i + 1, "model": c.name, "quality": round(c.quality, 3), "cost_usd": c.cost}
        for i, c in enumerate(route.candidates)
    ]
    rows += [{"rank": None, "model": name, "excluded": why} for name, why in route.excluded.items()]
    if as_json:
        out = {"strategy": route.strategy, "seconds": route.seconds, "models": rows}
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    table = Table("rank", "model", "predicted quality", "est. cost (USD)", "excluded because", title=route.strategy)
    for row in rows:
        table.add_row(
            str(row["rank"] or "-"),
            str(row["model"]),
            f"{row['quality']:.3f}" if "quality" in row else "",
            f"{row['cost_usd']:.6f}" if "cost_usd" in row else "",
            str(row.get("excluded", "")),
        )
    Console().print(table)


def _report(predictor: QualityPredictor, test: list[labelled.LabelledPrompt]) -> None:
    probs = predictor.predict_many([ex.prompt for ex in test])
    table = Table("model", "held-out prompts", "accuracy", "Brier score", "base rate")
    for j, name in enumerate(predictor.models):
        rows = [i for i, ex in enumerate(test) if name in ex.outcomes]
        if not rows:
            continue
        y = np.array([test[i].outcomes[name] for i in rows])
        p = probs[rows, j]
        accuracy = float(((p >= 0.5) == (y >= 0.5)).mean())
        table.add_row(name, str(len(rows)), f"{accuracy:.3f}", f"{float(((p - y) ** 2).mean()):.3f}", f"{y.mean():.3f}")
    console.print(table)


def _excluded(path: Path) -> set[str]:
    prompts = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            prompts.add(obj["prompt"] if "prompt" in obj else obj["eval_prompt"])
        except (ValueError, KeyError, TypeError):
            fail(f"{path}:{n}: expected a JSON object with a 'prompt' or 'eval_prompt' string")
    return prompts
