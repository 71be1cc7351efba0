"""Labelled evaluation data: which model answered which prompt well.

Two file formats, so existing evaluation output can be used as it is:

* CSV with a ``prompt`` column and one column per model holding ``True``/``False`` (or 1/0, or a
  score in [0, 1]); other columns (for example the models' answers) are ignored. This is the
  layout of RouteLLM's published evaluation files.
* JSON Lines, one object per prompt: ``{"prompt": "...", "outcomes": {"model-a": true, "model-b": 0.5}}``.

A directory is read as every ``.csv`` and ``.jsonl`` file in it, with the file's stem as the
example's ``source`` (for example the MMLU subject).
"""

from __future__ import annotations

import csv
import json
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from blacksoil.tokens.errors import PredictorError

_BOOLEAN = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}


@dataclass(frozen=True, slots=True)
class LabelledPrompt:
    prompt: str
    outcomes: dict[str, float]
    """Per model, 1.0 for a correct answer, 0.0 for a wrong one, or a score in between."""
    source: str = field(default="", compare=False)


def load(path: Path, exclude: Iterable[str] = ()) -> list[LabelledPrompt]:
    """Read a file or a directory of files; prompts in ``exclude`` (e.g. contaminated ones) are dropped."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".jsonl"))
        if not files:
            raise PredictorError(f"{path}: no .csv or .jsonl files in this directory")
    elif path.exists():
        files = [path]
    else:
        raise PredictorError(f"{path}: no such file or directory")
    skip = set(exclude)
    examples = [ex for f in files for ex in _read(f) if ex.prompt not in skip]
    if not examples:
        raise PredictorError(f"{path}: no labelled prompts found")
    return examples


def split(
    examples: Sequence[LabelledPrompt], test_fraction: float, seed: int = 0
) -> tuple[list[LabelledPrompt], list[LabelledPrompt]]:
    """A seeded random train/test split."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_test = round(len(order) * test_fraction)
    return [examples[i] for i in order[n_test:]], [examples[i] for i in order[:n_test]]


def _read(path: Path) -> list[LabelledPrompt]:
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    return _read_csv(path)


def _read_csv(path: Path) -> list[LabelledPrompt]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets add a byte-order mark
        rows = list(csv.DictReader(f))
    if not rows or "prompt" not in rows[0]:
        raise PredictorError(f"{path}: a CSV of labelled prompts needs a 'prompt' column")
    models = [c for c in rows[0] if c != "prompt" and _is_outcome_column([r[c] for r in rows])]
    if not models:
        raise PredictorError(f"{path}: no column holds per-model outcomes (True/False, 1/0 or a score in [0, 1])")
    out = []
    for row in rows:
        outcomes = {m: s for m in models if (s := _score(row[m])) is not None}
        out.append(LabelledPrompt(row["prompt"], outcomes, path.stem))
    return out


def _read_jsonl(path: Path) -> list[LabelledPrompt]:
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                prompt, raw = obj["prompt"], obj["outcomes"]
                outcomes = {str(m): float(v) for m, v in raw.items()}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise PredictorError(
                    f'{path}:{n}: expected {{"prompt": str, "outcomes": {{model: bool or score}}}} ({exc})'
                ) from None
            if not isinstance(prompt, str) or any(not 0.0 <= v <= 1.0 for v in outcomes.values()):
                raise PredictorError(f"{path}:{n}: 'prompt' must be a string and every outcome in [0, 1]")
            out.append(LabelledPrompt(prompt, outcomes, path.stem))
    return out


def _is_outcome_column(values: list[str | None]) -> bool:
    """Every filled cell is an outcome, and at least one is filled (empty cells: not evaluated)."""
    filled = [v for v in values if v and v.strip()]
    return bool(filled) and all(_score(v) is not None for v in filled)


def _score(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip().lower()
    if text in _BOOLEAN:
        return _BOOLEAN[text]
    try:
        score = float(text)
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 else None
