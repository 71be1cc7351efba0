"""The quality predictor: what it learns from labelled prompts, persistence, and its errors."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from blacksoil.tokens.errors import PredictorError
from blacksoil.tokens.router import dataset
from blacksoil.tokens.router.dataset import LabelledPrompt
from blacksoil.tokens.router.evaluation import curve
from blacksoil.tokens.router.predictor import QualityPredictor

BITS = 12  # small hash space: the synthetic vocabulary is tiny, and fitting stays in milliseconds
NAMES = ["Tom", "Ana", "Lia", "Sam", "Eve", "Raj", "Kim", "Ola", "Ben", "Zoe"]
APPLES = ["fresh apples", "apples in pies", "sliced apples"]
QUANTUM = ["quantum spin", "quantum fields", "quantum gates"]  # the same lengths as APPLES, one for one
N = 40

ROUTELLM = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "router" / "routellm"


def prompt(i: int, topics: list[str]) -> str:
    """One template for both topics, with the same random choices for prompt ``i`` of either: lengths,
    numbers and sentences are distributed alike, so only the topic's words tell the two apart."""
    r = random.Random(i)
    tail = r.choice(["", f" It has {r.randint(2, 9)} parts.", " Show your work."])
    return f"{r.choice(NAMES)} asks about {r.choice(topics)}, case {r.randint(10, 99)}.{tail} What is the answer?"


def labelled() -> list[LabelledPrompt]:
    """``strong`` answers everything; ``weak`` answers apples, not quantum physics; ``coin`` scores 0.5;
    ``partial`` was only evaluated on the quantum prompts, and answered all of them."""
    apples = [LabelledPrompt(prompt(i, APPLES), {"strong": 1.0, "weak": 1.0, "coin": 0.5}) for i in range(N)]
    quantum = [
        LabelledPrompt(prompt(i, QUANTUM), {"strong": 1.0, "weak": 0.0, "coin": 0.5, "partial": 1.0}) for i in range(N)
    ]
    return apples + quantum


UNSEEN = [
    (
        "Mia asks about apples in pies, case 7. What is the answer?",
        "Mia asks about quantum spin, case 7. What is the answer?",
    ),
    ("How do apples grow in an orchard?", "How does quantum physics describe light?"),
    (
        "Jo asks about sliced apples, case 123. Show your work.",
        "Jo asks about quantum gates, case 123. Show your work.",
    ),
]


@pytest.fixture(scope="module")
def predictor() -> QualityPredictor:
    return QualityPredictor.fit(labelled(), bits=BITS)


def test_models_and_training_counts(predictor: QualityPredictor) -> None:
    assert predictor.models == ["coin", "partial", "strong", "weak"]
    assert predictor.weights.shape == (predictor.featurizer.width, 4)
    assert predictor.info["examples"] == {"coin": 2 * N, "partial": N, "strong": 2 * N, "weak": 2 * N}
    assert predictor.info["bits"] == BITS and predictor.info["c"] == 1.0


@pytest.mark.parametrize(("apple", "quantum"), UNSEEN)
def test_learns_which_prompts_the_weak_model_answers(predictor: QualityPredictor, apple: str, quantum: str) -> None:
    on_apples, on_quantum = predictor.predict(apple), predictor.predict(quantum)
    assert on_apples["weak"] > 0.65 > 0.35 > on_quantum["weak"]
    assert on_apples["weak"] - on_quantum["weak"] > 0.4
    assert on_apples["strong"] > 0.95 and on_quantum["strong"] > 0.95


def test_soft_outcomes_are_learned_as_probabilities(predictor: QualityPredictor) -> None:
    for apple, quantum in UNSEEN:
        assert predictor.predict(apple)["coin"] == pytest.approx(0.5, abs=0.05)
        assert predictor.predict(quantum)["coin"] == pytest.approx(0.5, abs=0.05)


def test_a_model_learns_only_from_prompts_it_was_evaluated_on(predictor: QualityPredictor) -> None:
    # 'partial' answered every prompt it was given; had the apple prompts counted as failures, it
    # would look bad on apples, as 'weak' looks bad on quantum physics
    for apple, quantum in UNSEEN:
        assert predictor.predict(apple)["partial"] > 0.9
        assert predictor.predict(quantum)["partial"] > 0.9


def test_predictions_are_probabilities(predictor: QualityPredictor) -> None:
    prompts = [p for pair in UNSEEN for p in pair] + [ex.prompt for ex in labelled()[::7]]
    many = predictor.predict_many(prompts)
    assert many.shape == (len(prompts), len(predictor.models))
    assert ((many > 0) & (many < 1)).all()
    for i, text in enumerate(prompts):
        one = predictor.predict(text)
        assert list(one) == predictor.models
        assert np.allclose([one[m] for m in predictor.models], many[i])


def test_a_count_constant_in_training_does_not_saturate_predictions() -> None:
    """Every training prompt has exactly one number and two sentence marks, so those counts have no
    spread; a prompt with a different count must still get a probability, not 0 or 1 (or an overflow)."""

    def ask(i: int, topic: str) -> str:
        r = random.Random(i)
        return f"{r.choice(NAMES)} asks about {topic} {r.choice(['today', 'in class', 'at home'])}, case {i + 10}. Why?"

    examples = [LabelledPrompt(ask(i, "apples"), {"strong": 1.0, "weak": 1.0}) for i in range(15)]
    examples += [LabelledPrompt(ask(i, "quantum physics"), {"strong": 1.0, "weak": 0.0}) for i in range(15)]
    predictor = QualityPredictor.fit(examples, bits=BITS)
    for text in ["How many apples?", "Tom asks about apples today, case 11 or 12. Why?"]:
        p = predictor.predict(text)
        assert all(0.0 < v < 1.0 for v in p.values()), p


def test_prompts_without_words_fall_back_to_the_bias(predictor: QualityPredictor) -> None:
    empty = predictor.predict("")
    assert list(empty) == predictor.models
    assert all(0.0 < v < 1.0 for v in empty.values())
    assert np.allclose(predictor.predict_many([""])[0], [empty[m] for m in predictor.models])
    # no word of two letters or more: still a probability, from character n-grams, shape and bias
    assert all(0.0 < v < 1.0 for v in predictor.predict("!! a").values())
    assert predictor.predict_many([]).shape == (0, len(predictor.models))


def test_fit_refuses_no_data() -> None:
    with pytest.raises(PredictorError, match="no labelled prompts"):
        QualityPredictor.fit([])


def test_save_and_load_round_trip(predictor: QualityPredictor, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "predictor.npz"
    predictor.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["predictor.npz"]  # no temporary file left behind
    loaded = QualityPredictor.load(path)
    assert loaded.models == predictor.models and loaded.info == predictor.info
    prompts = [p for pair in UNSEEN for p in pair] + [""]
    for text in prompts:
        assert loaded.predict(text) == predictor.predict(text)
    assert np.array_equal(loaded.predict_many(prompts), predictor.predict_many(prompts))
    predictor.save(path)  # overwriting is fine
    assert QualityPredictor.load(path).models == predictor.models


def test_loading_a_missing_file_says_how_to_train_one(tmp_path: Path) -> None:
    path = tmp_path / "missing.npz"
    with pytest.raises(PredictorError, match="blacksoil router train") as info:
        QualityPredictor.load(path)
    assert str(path) in info.value.message


def _foreign_npz(path: Path) -> None:
    np.savez(path, weights=np.zeros(3))


def _other_format(path: Path) -> None:
    meta = json.dumps({"format": "something.else/2", "models": []}).encode()
    np.savez(path, meta=np.frombuffer(meta, dtype=np.uint8))


def _not_npz(path: Path) -> None:
    path.write_text("not a zip archive")


@pytest.mark.parametrize("make", [_foreign_npz, _other_format, _not_npz], ids=["no-meta", "other-format", "text"])
def test_loading_something_else_says_how_to_train_one(tmp_path: Path, make: Callable[[Path], None]) -> None:
    path = tmp_path / "predictor.npz"
    make(path)
    with pytest.raises(PredictorError) as info:
        QualityPredictor.load(path)
    assert str(path) in info.value.message
    assert "blacksoil router train" in info.value.message


@pytest.mark.skipif(
    not (ROUTELLM / "gsm8k_responses.csv").is_file(),
    reason=f"RouteLLM's GSM8K evaluation data is not at {ROUTELLM} (see ../shared/data/README.md)",
)
def test_beats_random_routing_on_held_out_gsm8k() -> None:
    strong, weak = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
    contaminated = ROUTELLM / "gsm8k_contaminated_prompts.jsonl"
    skip = {json.loads(line)["eval_prompt"] for line in contaminated.read_text().splitlines() if line.strip()}
    examples = dataset.load(ROUTELLM / "gsm8k_responses.csv", exclude=skip)
    assert len(examples) == 1319 - len(skip)
    train, test = dataset.split(examples, 0.2, seed=0)
    predictor = QualityPredictor.fit(train)
    probs = predictor.predict_many([ex.prompt for ex in test])
    score = probs[:, predictor.models.index(strong)] - probs[:, predictor.models.index(weak)]
    c = curve(score, np.array([ex.outcomes[strong] for ex in test]), np.array([ex.outcomes[weak] for ex in test]))
    # random routing: 0.5; this split measured 0.69
    assert c.apgr() > 0.6
