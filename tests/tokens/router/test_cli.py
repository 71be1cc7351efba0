"""``blacksoil router train`` and ``blacksoil router explain`` through the real CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from blacksoil.cli import app
from blacksoil.tokens.router import QualityPredictor, dataset

runner = CliRunner()

CONFIG = """\
tokens:
  models:
    - name: big
      replicas: [{engine: upstream, base_url: "http://127.0.0.1:9/v1"}]
      price: {input: 10, output: 30}
      locality: external
      quality: 0.9
      quality_name: alpha
    - name: small
      replicas: [{engine: upstream, base_url: "http://127.0.0.1:9/v1"}]
      price: {input: 0.2, output: 0.2}
      locality: on-prem
      quality: 0.7
      quality_name: beta
"""


def flat(text: str) -> str:
    """The output without whitespace: rich wraps long lines (such as paths) at the terminal width."""
    return "".join(text.split())


def table_rows(output: str) -> list[list[str]]:
    """The cells of each row of the rich tables in ``output``."""
    return [[c.strip() for c in line.strip("│ ").split("│")] for line in output.splitlines() if line.startswith("│")]


def write_labelled(path: Path, n: int = 50) -> Path:
    """``alpha`` answers everything; ``beta`` answers prompts about apples, not about quantum physics."""
    lines = []
    for i in range(n):
        r = random.Random(i)
        topic = "fresh apples" if i % 2 else "quantum spin"
        tail = r.choice(["", f" It has {r.randint(2, 9)} parts.", " Show your work."])
        text = f"{r.choice(['Tom', 'Ana', 'Eve', 'Rajesh'])} asks about {topic}, case {r.randint(1, 999)}.{tail} Why?"
        lines.append(json.dumps({"prompt": text, "outcomes": {"alpha": True, "beta": i % 2 == 1}}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh home, so no predictor from the user's own home is picked up."""
    return {"BLACKSOIL_HOME": str(tmp_path / "home")}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "blacksoil.yaml"
    path.write_text(CONFIG)
    return path


def test_train_writes_a_loadable_predictor_and_reports_held_out_accuracy(tmp_path: Path, env: dict[str, str]) -> None:
    data = write_labelled(tmp_path / "evals.jsonl")
    out = tmp_path / "out" / "predictor.npz"
    result = runner.invoke(app, ["router", "train", str(data), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "50 labelled prompts from 1 source(s)" in result.output
    for header in ("model", "held-out prompts", "accuracy", "Brier score", "base rate"):
        assert header in result.output
    rows = {cells[0]: cells[1:] for cells in table_rows(result.output) if cells[0] in ("alpha", "beta")}
    # 20% of 50 held out; each model was evaluated on every prompt
    assert rows["alpha"][0] == rows["beta"][0] == "10"
    assert float(rows["beta"][1]) >= 0.8  # held-out accuracy: beta's apples/quantum split is learnable
    _, held_out = dataset.split(dataset.load(data), 0.2)  # the CLI's split: seed 0
    assert float(rows["alpha"][3]) == 1.0  # base rates
    assert float(rows["beta"][3]) == pytest.approx(sum(ex.outcomes["beta"] for ex in held_out) / 10, abs=0.001)
    assert f"saved{out}(2models" in flat(result.output)
    predictor = QualityPredictor.load(out)
    assert predictor.models == ["alpha", "beta"] and predictor.info["examples"] == {"alpha": 50, "beta": 50}
    assert not (tmp_path / "home" / "router").exists()  # --out, not the default place


def test_train_on_a_missing_path_exits_2_with_an_error(tmp_path: Path, env: dict[str, str]) -> None:
    missing = tmp_path / "nowhere.jsonl"
    result = runner.invoke(app, ["router", "train", str(missing)], env=env)
    assert result.exit_code == 2
    assert "error:" in result.output
    assert f"{missing}:nosuchfileordirectory" in flat(result.output)


def test_train_on_a_bad_exclude_file_exits_2(tmp_path: Path, env: dict[str, str]) -> None:
    data = write_labelled(tmp_path / "evals.jsonl")
    exclude = tmp_path / "exclude.jsonl"
    exclude.write_text('{"eval_prompt": "x"}\n{"text": "y"}\n')
    result = runner.invoke(app, ["router", "train", str(data), "--exclude", str(exclude)], env=env)
    assert result.exit_code == 2
    assert "error:" in result.output and f"{exclude}:2:" in flat(result.output)


def explain(config: Path, env: dict[str, str], *args: str) -> Any:
    result = runner.invoke(
        app, ["router", "explain", "What is 2+2?", "--config", str(config), "--json", *args], env=env
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_explain_prints_the_ranking(config: Path, env: dict[str, str]) -> None:
    out = explain(config, env)
    assert out["strategy"] == "balanced"
    models = out["models"]
    tokens = 4 + 4  # one message's overhead, and 12 characters at 3 per token
    assert models == [
        {"rank": 1, "model": "big", "quality": 0.9, "cost_usd": pytest.approx((tokens * 10 + 256 * 30) / 1e6)},
        {"rank": 2, "model": "small", "quality": 0.7, "cost_usd": pytest.approx((tokens + 256) * 0.2 / 1e6)},
    ]
    cheap = explain(config, env, "--model", "auto:cost", "--max-tokens", "10")
    assert cheap["strategy"] == "cost"
    assert [m["model"] for m in cheap["models"]] == ["small", "big"]


def test_explain_sensitive_excludes_the_external_model(config: Path, env: dict[str, str]) -> None:
    out = explain(config, env, "--sensitive", "--model", "auto:performance")
    assert out["models"] == [
        {"rank": 1, "model": "small", "quality": 0.7, "cost_usd": pytest.approx((8 + 256) * 0.2 / 1e6)},
        {"rank": None, "model": "big", "excluded": "runs 'external'; sensitive requests stay in: on-prem"},
    ]


def test_explain_as_a_table(config: Path, env: dict[str, str]) -> None:
    result = runner.invoke(app, ["router", "explain", "hi", "--config", str(config), "--sensitive"], env=env)
    assert result.exit_code == 0, result.output
    assert "balanced" in result.output and "small" in result.output and "0.700" in result.output
    assert "runs 'external';" in result.output


def test_explain_bad_strategy_exits_2(config: Path, env: dict[str, str]) -> None:
    result = runner.invoke(app, ["router", "explain", "hi", "--config", str(config), "--model", "auto:fast"], env=env)
    assert result.exit_code == 2
    assert "error:" in result.output and "is not a routing strategy" in " ".join(result.output.split())


def test_explain_uses_the_predictor_trained_into_home(tmp_path: Path, config: Path, env: dict[str, str]) -> None:
    data = write_labelled(tmp_path / "evals.jsonl")
    trained = runner.invoke(app, ["router", "train", str(data), "--holdout", "0"], env=env)
    assert trained.exit_code == 0, trained.output
    assert "held-out" not in trained.output  # no held-out report with --holdout 0
    path = tmp_path / "home" / "router" / "predictor.npz"
    predicted = QualityPredictor.load(path).predict("What is 2+2?")
    out = explain(config, env, "--model", "auto:performance")
    quality = {m["model"]: m["quality"] for m in out["models"]}
    assert quality == {"big": round(predicted["alpha"], 3), "small": round(predicted["beta"], 3)}
    assert quality != {"big": 0.9, "small": 0.7}
