"""Reading labelled prompts from CSV and JSONL files, and splitting them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blacksoil.tokens.errors import PredictorError
from blacksoil.tokens.router import dataset
from blacksoil.tokens.router.dataset import LabelledPrompt

CSV = (
    "prompt,model-a,model-b,model-a_response,notes\n"
    'What is 2+2?,True,False,"It is 4, obviously.",easy\n'
    '"A prompt, with a comma\nand a newline",False,,"I do not know",\n'
    "Name a prime,1,0.25,Seven,\n"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, *objects: object) -> Path:
    return write(path, "".join(json.dumps(o) + "\n" for o in objects))


def test_csv_reads_outcome_columns_and_ignores_free_text(tmp_path: Path) -> None:
    examples = dataset.load(write(tmp_path / "math.csv", CSV))
    assert [ex.prompt for ex in examples] == ["What is 2+2?", "A prompt, with a comma\nand a newline", "Name a prime"]
    assert examples[0].outcomes == {"model-a": 1.0, "model-b": 0.0}
    # an empty cell: model-b was not evaluated on this prompt, so it is absent (not wrong)
    assert examples[1].outcomes == {"model-a": 0.0}
    assert examples[2].outcomes == {"model-a": 1.0, "model-b": 0.25}
    assert all(ex.source == "math" for ex in examples)


def test_csv_booleans_are_case_and_space_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path / "b.csv", "prompt,m\none, TRUE \ntwo,false\nthree,0\n")
    assert [ex.outcomes for ex in dataset.load(path)] == [{"m": 1.0}, {"m": 0.0}, {"m": 0.0}]


def test_csv_column_with_a_value_outside_the_unit_interval_is_not_an_outcome(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "prompt,m,tokens\none,True,12\ntwo,False,0\n")
    assert [ex.outcomes for ex in dataset.load(path)] == [{"m": 1.0}, {"m": 0.0}]


def test_jsonl_reads_booleans_and_scores(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "chat.jsonl",
        {"prompt": "hello", "outcomes": {"a": True, "b": 0.5}},
        {"prompt": "bye", "outcomes": {"b": False}},
    )
    path.write_text(path.read_text() + "\n   \n")  # blank lines are skipped
    examples = dataset.load(path)
    assert examples == [LabelledPrompt("hello", {"a": 1.0, "b": 0.5}), LabelledPrompt("bye", {"b": 0.0})]
    assert {ex.source for ex in examples} == {"chat"}


def test_a_directory_reads_every_csv_and_jsonl_file_with_its_stem_as_source(tmp_path: Path) -> None:
    write(tmp_path / "data" / "algebra.csv", "prompt,m\nx+1=2?,True\n")
    jsonl(tmp_path / "data" / "biology.jsonl", {"prompt": "cells?", "outcomes": {"m": 0}})
    write(tmp_path / "data" / "README.md", "prompt,m\nnot data,True\n")
    write(tmp_path / "data" / "nested" / "deeper.csv", "prompt,m\nnot read,True\n")
    examples = dataset.load(tmp_path / "data")
    assert [(ex.source, ex.prompt, ex.outcomes) for ex in examples] == [
        ("algebra", "x+1=2?", {"m": 1.0}),
        ("biology", "cells?", {"m": 0.0}),
    ]


def test_exclude_drops_those_prompts(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "prompt,m\nkeep me,True\ndrop me,False\nkeep too,True\n")
    assert [ex.prompt for ex in dataset.load(path, exclude=["drop me", "not there"])] == ["keep me", "keep too"]
    assert [ex.prompt for ex in dataset.load(path, exclude=iter(["drop me"]))] == ["keep me", "keep too"]


def test_excluding_everything_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "prompt,m\nonly,True\n")
    with pytest.raises(PredictorError, match="no labelled prompts"):
        dataset.load(path, exclude={"only"})


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PredictorError, match="no such file or directory") as info:
        dataset.load(tmp_path / "nope.csv")
    assert str(tmp_path / "nope.csv") in info.value.message


def test_directory_without_data_files(tmp_path: Path) -> None:
    write(tmp_path / "empty" / "notes.txt", "prompt,m\nx,True\n")
    with pytest.raises(PredictorError, match=r"no \.csv or \.jsonl files") as info:
        dataset.load(tmp_path / "empty")
    assert str(tmp_path / "empty") in info.value.message


def test_csv_without_a_prompt_column(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", "question,m\nx,True\n")
    with pytest.raises(PredictorError, match="'prompt' column") as info:
        dataset.load(path)
    assert str(path) in info.value.message


def test_csv_without_an_outcome_column(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", "prompt,answer,grade\nx,four,good\ny,five,\n")
    with pytest.raises(PredictorError, match="no column holds per-model outcomes") as info:
        dataset.load(path)
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"outcomes": {"m": true}}',
        '{"prompt": "x"}',
        '{"prompt": "x", "outcomes": ["m"]}',
        '{"prompt": "x", "outcomes": {"m": "yes"}}',
        '{"prompt": "x", "outcomes": {"m": null}}',
        "[1, 2]",
    ],
    ids=["not-json", "no-prompt", "no-outcomes", "outcomes-list", "outcome-text", "outcome-null", "array"],
)
def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    path = write(tmp_path / "bad.jsonl", '{"prompt": "fine", "outcomes": {"m": 1}}\n\n' + line + "\n")
    with pytest.raises(PredictorError) as info:
        dataset.load(path)
    assert info.value.message.startswith(f"{path}:3: expected")


@pytest.mark.parametrize(
    "line",
    [
        '{"prompt": "x", "outcomes": {"m": 1.5}}',
        '{"prompt": "x", "outcomes": {"m": -0.1}}',
        '{"prompt": "x", "outcomes": {"m": NaN}}',
        '{"prompt": 7, "outcomes": {"m": 1}}',
    ],
    ids=["above-one", "negative", "nan", "prompt-not-a-string"],
)
def test_jsonl_outcome_outside_the_unit_interval(tmp_path: Path, line: str) -> None:
    path = write(tmp_path / "bad.jsonl", line + "\n")
    with pytest.raises(PredictorError, match=r"every outcome in \[0, 1\]") as info:
        dataset.load(path)
    assert info.value.message.startswith(f"{path}:1:")


def examples(n: int) -> list[LabelledPrompt]:
    return [LabelledPrompt(f"prompt {i}", {"m": float(i % 2)}) for i in range(n)]


def test_split_is_seeded_disjoint_and_complete() -> None:
    data = examples(50)
    train, test = dataset.split(data, 0.2, seed=3)
    assert len(test) == 10 and len(train) == 40
    assert {ex.prompt for ex in train}.isdisjoint(ex.prompt for ex in test)
    assert sorted(ex.prompt for ex in train + test) == sorted(ex.prompt for ex in data)
    assert dataset.split(data, 0.2, seed=3) == (train, test)  # reproducible
    assert dataset.split(data, 0.2, seed=4)[1] != test  # another seed, another split
    assert [ex.prompt for ex in test] != [f"prompt {i}" for i in range(10)]  # shuffled, not the head


def test_split_extremes() -> None:
    data = examples(7)
    train, test = dataset.split(data, 0.0)
    assert test == [] and sorted(ex.prompt for ex in train) == sorted(ex.prompt for ex in data)
    train, test = dataset.split(data, 1.0)
    assert train == [] and len(test) == 7
