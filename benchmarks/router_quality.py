"""Benchmark the model router's quality predictor on RouteLLM's evaluation data, and its speed.

Data: ``../shared/data/router/routellm/`` (GSM8K, minus RouteLLM's 12 contaminated prompts, and
29 MMLU subjects): per prompt, whether GPT-4-1106 (strong) and Mixtral-8x7B (weak) answered it
correctly. For each benchmark, repeated K-fold cross-validation (5 folds x 2 seeds): the
predictor is trained on four folds and scored on the held-out fifth, which it never saw.

Reported per benchmark, mean and spread over the 10 held-out folds:

* RouteLLM's metrics for the score p(strong) - p(weak): APGR, CPT(50%), CPT(80%); next to a
  random router (exact expectation: the straight line) and RouteLLM's best published routers;
* the cost-quality curve (share of calls to the strong model → quality and cost);
* at the operating point that keeps 95% of the strong model's quality — its threshold
  calibrated on the *other* folds' held-out predictions, never on the fold it is measured on —
  the quality reached, the cost saved against always calling the strong model, and the
  routing accuracy (the share of answerable prompts sent to the cheapest model that answers);
* routing time: ``Router.route`` (constraints, featurising the prompt, prediction, ranking)
  per request over real prompts, p50 and p99, against the 5 ms goal.

Costs use RouteLLM's prices (GPT-4-1106 $10/$30 per million input/output tokens, Mixtral
$0.24) and token counts estimated as characters / 4; GSM8K output lengths come from the
models' recorded answers, MMLU answers count as one token.

    .venv/bin/python benchmarks/router_quality.py           # about 3 minutes on 2 cores
    .venv/bin/python benchmarks/router_quality.py --quick   # 1 seed, fewer timing samples

Prints JSON and writes benchmarks/results/router_quality.json; a Markdown summary on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import procs
from blacksoil.tokens.config import RouterConfig
from blacksoil.tokens.router import CatalogEntry, QualityPredictor, Router, RoutingInput, StaticStatus
from blacksoil.tokens.router import dataset as labelled
from blacksoil.tokens.router.evaluation import curve, routing_accuracy
from blacksoil.tokens.types import ChatCompletionRequest, GenerationRequest

DATA = procs.ROOT.parent / "shared" / "data" / "router" / "routellm"
RESULTS = procs.ROOT / "benchmarks" / "results" / "router_quality.json"
STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
PRICE = {STRONG: (10.0, 30.0), WEAK: (0.24, 0.24)}  # USD per million tokens (input, output)
CHARS_PER_TOKEN = 4.0
QUALITY_TARGET = 0.95
CURVE_SHARES = np.linspace(0.0, 1.0, 21)

# RouteLLM (Ong et al., arXiv 2406.18665v4), Tables 2 and 3: the best router per benchmark,
# trained on Arena preference data augmented with in-domain labels (MMLU: golden labels;
# GSM8K: GPT-4-judge labels), evaluated on the whole benchmark.
ROUTELLM_BEST = {
    "gsm8k": {"router": "Causal LLM (D_arena + D_judge)", "apgr": 0.622, "cpt50": 0.3364, "cpt80": 0.6326},
    "mmlu": {"router": "SW Ranking (D_arena + D_gold)", "apgr": 0.603, "cpt50": 0.3540, "cpt80": 0.7155},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one seed and fewer timing samples")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--c", type=float, default=1.0, help="the predictor's inverse regularisation")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if not DATA.exists():
        sys.exit(f"no evaluation data at {DATA} (see ../shared/data/README.md)")
    seeds = (0,) if args.quick else (0, 1)
    with procs.bench_lock():
        sets = load_sets()
        result: dict[str, Any] = {"machine": procs.machine(), "protocol": protocol(args, seeds), "benchmarks": {}}
        for name, (examples, out_tokens) in sets.items():
            procs.log(f"{name}: {len(examples)} prompts, {args.folds} folds x {len(seeds)} seeds")
            result["benchmarks"][name] = evaluate(name, examples, out_tokens, args.folds, seeds, args.c)
        everything = [ex for examples, _ in sets.values() for ex in examples]
        result["routing_time"] = routing_time(everything, samples=500 if args.quick else 3000)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    procs.log(summary(result))


def load_sets() -> dict[str, tuple[list[labelled.LabelledPrompt], dict[str, dict[str, int]]]]:
    """Per benchmark: the labelled prompts and, per prompt, each model's output tokens."""
    contaminated = {
        json.loads(line)["eval_prompt"] for line in (DATA / "gsm8k_contaminated_prompts.jsonl").read_text().splitlines()
    }
    gsm8k = labelled.load(DATA / "gsm8k_responses.csv", contaminated)
    answers: dict[str, dict[str, int]] = {}
    csv.field_size_limit(sys.maxsize)
    with (DATA / "gsm8k_responses.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            answers[row["prompt"]] = {m: tokens(row[f"{m}_response"]) for m in (STRONG, WEAK)}
    mmlu = labelled.load(DATA / "mmlu_responses")
    return {
        "gsm8k": (gsm8k, {ex.prompt: answers[ex.prompt] for ex in gsm8k}),
        "mmlu": (mmlu, {ex.prompt: {STRONG: 1, WEAK: 1} for ex in mmlu}),
    }


def tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN))


def request_cost(model: str, prompt: str, output_tokens: int) -> float:
    input_price, output_price = PRICE[model]
    return (tokens(prompt) * input_price + output_tokens * output_price) / 1e6


def evaluate(
    name: str,
    examples: list[labelled.LabelledPrompt],
    out_tokens: dict[str, dict[str, int]],
    n_folds: int,
    seeds: tuple[int, ...],
    c: float,
) -> dict[str, Any]:
    strong = np.array([ex.outcomes[STRONG] for ex in examples])
    weak = np.array([ex.outcomes[WEAK] for ex in examples])
    cost = {
        m: np.array(
            [(tokens(ex.prompt) * PRICE[m][0] + out_tokens[ex.prompt][m] * PRICE[m][1]) / 1e6 for ex in examples]
        )
        for m in (STRONG, WEAK)
    }
    folds: list[dict[str, Any]] = []
    fit_s: list[float] = []
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(len(examples))
        parts = np.array_split(order, n_folds)
        score = np.zeros(len(examples))
        for k, test in enumerate(parts):
            train = np.concatenate([part for j, part in enumerate(parts) if j != k])
            started = time.perf_counter()
            predictor = QualityPredictor.fit([examples[i] for i in train], c=c)
            fit_s.append(time.perf_counter() - started)
            probs = predictor.predict_many([examples[i].prompt for i in test])
            score[test] = probs[:, predictor.models.index(STRONG)] - probs[:, predictor.models.index(WEAK)]
        for k, test in enumerate(parts):
            others = np.concatenate([part for j, part in enumerate(parts) if j != k])
            folds.append(fold_metrics(score, strong, weak, cost, test, others))
        procs.log(f"  seed {seed}: CPT(50%) " + ", ".join(f"{f['cpt50']:.3f}" for f in folds[-n_folds:]))
    constant = curve(np.zeros(len(examples)), strong, weak)
    return {
        "prompts": len(examples),
        "strong_accuracy": round(float(strong.mean()), 4),
        "weak_accuracy": round(float(weak.mean()), 4),
        "strong_only_share": round(float(((strong > 0.5) & (weak < 0.5)).mean()), 4),
        "weak_only_share": round(float(((strong < 0.5) & (weak > 0.5)).mean()), 4),
        "router": {key: spread([f[key] for f in folds]) for key in folds[0] if key != "curve"},
        "random": {"apgr": round(constant.apgr(), 4), "cpt50": constant.cpt(0.5), "cpt80": constant.cpt(0.8)},
        "routellm_best": ROUTELLM_BEST[name],
        "curve": mean_curve([f["curve"] for f in folds]),
        "fit_seconds": round(statistics.median(fit_s), 2),
    }


def fold_metrics(
    score: np.ndarray,
    strong: np.ndarray,
    weak: np.ndarray,
    cost: dict[str, np.ndarray],
    test: np.ndarray,
    others: np.ndarray,
) -> dict[str, Any]:
    c = curve(score[test], strong[test], weak[test])
    # the operating point: the threshold that keeps 95% of strong quality on the other folds
    calib = curve(score[others], strong[others], weak[others])
    share = float(calib.share[np.argmax(calib.quality >= QUALITY_TARGET * calib.strong)])
    threshold = float(np.quantile(score[others], 1.0 - share)) if share > 0 else np.inf
    to_strong = score[test] >= threshold
    quality = np.where(to_strong, strong[test], weak[test]).mean()
    spent = np.where(to_strong, cost[STRONG][test], cost[WEAK][test]).sum()
    all_strong = cost[STRONG][test].sum()
    best_share = float(c.share[np.argmax(c.quality >= QUALITY_TARGET * c.strong)])
    curve_points = [
        (float(s), float(np.interp(s, c.share, c.quality)), cost_at_share(score, cost, test, s) / all_strong)
        for s in CURVE_SHARES
    ]
    return {
        "apgr": c.apgr(),
        "cpt50": c.cpt(0.5),
        "cpt80": c.cpt(0.8),
        "at95_strong_share": float(to_strong.mean()),
        "at95_quality_vs_strong": float(quality / c.strong),
        "at95_cost_saved": float(1.0 - spent / all_strong),
        "at95_routing_accuracy": routing_accuracy(to_strong, strong[test], weak[test]),
        "at95_best_share_in_hindsight": best_share,
        "curve": curve_points,
    }


def cost_at_share(score: np.ndarray, cost: dict[str, np.ndarray], test: np.ndarray, share: float) -> float:
    """Total cost when the top ``share`` of the test prompts by score go to the strong model."""
    n_strong = round(share * len(test))
    ranked = test[np.argsort(-score[test], kind="stable")]
    return float(cost[STRONG][ranked[:n_strong]].sum() + cost[WEAK][ranked[n_strong:]].sum())


def routing_time(examples: list[labelled.LabelledPrompt], samples: int) -> dict[str, Any]:
    """Per-request time of Router.route over real prompts, with a predictor trained on all of them."""
    predictor = QualityPredictor.fit(examples)
    catalog = [CatalogEntry(m, *PRICE[m], None, frozenset(), "external", m, 0.5) for m in (STRONG, WEAK)]
    router = Router(RouterConfig(), catalog, predictor)
    config = router.config
    rng = np.random.default_rng(0)
    healthy = StaticStatus()
    times = []
    for i in rng.choice(len(examples), size=samples):
        body = {"model": "auto", "messages": [{"role": "user", "content": examples[i].prompt}]}
        request = GenerationRequest("chat", ChatCompletionRequest.model_validate(body), body)
        started = time.perf_counter()
        router.route(RoutingInput.from_request(request, config), lambda _: healthy)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return {
        "samples": samples,
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "mean_prompt_chars": round(float(np.mean([len(e.prompt) for e in examples])), 1),
        "goal_p50_ms": 5.0,
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(values), 4), "std": round(statistics.pstdev(values), 4)}


def mean_curve(curves: list[list[tuple[float, float, float]]]) -> list[dict[str, float]]:
    points = np.array(curves).mean(axis=0)
    return [{"strong_share": round(s, 3), "quality": round(q, 4), "cost_vs_strong": round(c, 4)} for s, q, c in points]


def protocol(args: argparse.Namespace, seeds: tuple[int, ...]) -> dict[str, Any]:
    return {
        "cv": f"{args.folds}-fold x {len(seeds)} seeds, metrics per held-out fold",
        "predictor": f"hashed word 1-2-gram TF-IDF + 6 counts, logistic regression per model, C={args.c}",
        "score": "p(strong correct) - p(weak correct)",
        "prices_usd_per_mtok": PRICE,
        "tokens": f"characters / {CHARS_PER_TOKEN:g}",
        "operating_point": f"threshold keeping {QUALITY_TARGET:.0%} of strong quality on the other folds",
    }


def summary(result: dict[str, Any]) -> str:
    lines = [
        "",
        "| benchmark | router | APGR | CPT(50%) | CPT(80%) |",
        "|---|---|---|---|---|",
    ]
    for name, b in result["benchmarks"].items():
        r, best = b["router"], b["routellm_best"]
        lines.append(
            f"| {name} | blacksoil | {r['apgr']['mean']:.3f} ± {r['apgr']['std']:.3f} | "
            f"{r['cpt50']['mean']:.1%} ± {r['cpt50']['std']:.1%} | {r['cpt80']['mean']:.1%} ± {r['cpt80']['std']:.1%} |"
        )
        lines.append(f"| {name} | random | {b['random']['apgr']:.3f} | {b['random']['cpt50']:.1%} | "
                     f"{b['random']['cpt80']:.1%} |")  # fmt: skip
        lines.append(f"| {name} | RouteLLM {best['router']} | {best['apgr']:.3f} | {best['cpt50']:.1%} | "
                     f"{best['cpt80']:.1%} |")  # fmt: skip
    t = result["routing_time"]
    lines.append(f"\nrouting time: p50 {t['p50_ms']:.3f} ms, p99 {t['p99_ms']:.3f} ms (goal p50 <= 5 ms)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
