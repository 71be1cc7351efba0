"""The llama.cpp connector: restoring a cached prefix changes nothing but the time it takes.

Greedy decoding after a restored prefix must produce exactly the tokens (and the first step
exactly the logits) of a cold prefill, for whole and partly shared prompts; a replica in another
process must hit on blocks this one computed; a corrupt block must be recomputed, not loaded.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blacksoil.kvpool import DiskTier, KVPool, MemoryTier, block_keys
from blacksoil.kvpool.policies import LRU
from tests.conftest import HAVE_ENGINE

pytestmark = pytest.mark.embedded

if HAVE_ENGINE:
    import llama_cpp

    from blacksoil.kvpool.connectors.llama import LlamaConnector
    from blacksoil.tokens.weights import ensure_default_model

BLOCK = 64
MODEL_ID = "gemma-3-270m-q4_k_m"
STORY = "In a small village by the sea, the fishermen told stories every evening about the {} they had seen. "


@pytest.fixture(scope="module")
def model_path() -> Path:
    if not HAVE_ENGINE:
        pytest.skip("the embedded engine is not installed: run `make test` (it builds llama-cpp-python)")
    return Path(ensure_default_model(Path.home() / ".cache" / "blacksoil" / "test-models"))


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Iterator[Any]:
    model = llama_cpp.Llama(str(model_path), n_ctx=2048, n_threads=2, n_batch=512, verbose=False)
    yield model
    model.close()


def memory_pool() -> KVPool:
    return KVPool([MemoryTier("memory", 1 << 30, LRU())])


def greedy(llm: Any, steps: int = 8) -> tuple[list[int], np.ndarray]:
    """The next ``steps`` greedy tokens, and the logits the first one was chosen from."""
    vocab = llm.n_vocab()
    first = None
    out = []
    for _ in range(steps):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(vocab,)).copy()
        first = logits if first is None else first
        out.append(int(np.argmax(logits)))
        llm.eval([out[-1]])
    assert first is not None
    return out, first


def prompt(llm: Any, topic: str, n_tokens: int) -> list[int]:
    tokens: list[int] = llm.tokenize(STORY.format(topic).encode() * 40)
    return tokens[:n_tokens]


def run(connector: Any, tokens: list[int]) -> tuple[Any, list[int], np.ndarray]:
    report = connector.prefill(tokens)
    out, logits = greedy(connector.llm)
    return report, out, logits


@pytest.mark.parametrize(
    ("topic", "n_tokens"),
    [("whales", 130), ("storms", 257), ("ships", 320)],
)
def test_restored_prefix_gives_identical_greedy_output(llm: Any, topic: str, n_tokens: int) -> None:
    tokens = prompt(llm, topic, n_tokens)
    cold = LlamaConnector(llm, memory_pool(), BLOCK, MODEL_ID)
    report, expected, expected_logits = run(cold, tokens)
    assert report.restored_tokens == 0 and report.stored_blocks == n_tokens // BLOCK

    warm = LlamaConnector(llm, cold.pool, BLOCK, MODEL_ID)
    report, got, logits = run(warm, tokens)
    assert report.restored_tokens == ((n_tokens - 1) // BLOCK) * BLOCK > 0
    assert report.computed_tokens == n_tokens - report.restored_tokens
    assert got == expected
    assert np.array_equal(logits, expected_logits)  # bit for bit


def test_a_partly_shared_prompt_restores_the_shared_blocks_only(llm: Any) -> None:
    base = prompt(llm, "harbours", 300)
    other = base[:200] + prompt(llm, "gulls", 100)  # shares 3 whole 64-token blocks
    pool = memory_pool()
    LlamaConnector(llm, pool, BLOCK, MODEL_ID).prefill(base)
    report, got, logits = run(LlamaConnector(llm, pool, BLOCK, MODEL_ID), other)
    assert report.restored_tokens == 192
    _, expected, expected_logits = run(LlamaConnector(llm, memory_pool(), BLOCK, MODEL_ID), other)
    assert got == expected and np.array_equal(logits, expected_logits)


def test_another_model_or_layout_never_hits(llm: Any) -> None:
    tokens = prompt(llm, "nets", 200)
    pool = memory_pool()
    LlamaConnector(llm, pool, BLOCK, MODEL_ID).prefill(tokens)
    assert LlamaConnector(llm, pool, BLOCK, "another-model").prefill(tokens).restored_tokens == 0


def test_a_corrupt_block_is_recomputed_not_loaded(llm: Any, tmp_path: Path) -> None:
    tokens = prompt(llm, "tides", 200)
    pool = KVPool([DiskTier("disk", tmp_path, 1 << 30, LRU())])
    connector = LlamaConnector(llm, pool, BLOCK, MODEL_ID)
    _, expected, _ = run(connector, tokens)
    second = block_keys(tokens, BLOCK, connector.fingerprint)[1].hex()
    path = tmp_path / second[:2] / f"{second}.blk"
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))  # the second block: the first one still restores
    report, got, _ = run(LlamaConnector(llm, pool, BLOCK, MODEL_ID), tokens)
    assert report.restored_tokens == BLOCK
    assert got == expected
    assert pool.tiers[0].stats.corrupt == 1


_REPLICA = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import llama_cpp
    from blacksoil.kvpool import DiskTier, KVPool
    from blacksoil.kvpool.connectors.llama import LlamaConnector
    from blacksoil.kvpool.policies import LRU
    model, root, block, model_id = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    tokens = [int(t) for t in sys.argv[5].split(",")]
    llm = llama_cpp.Llama(model, n_ctx=2048, n_threads=2, n_batch=512, verbose=False)
    report = LlamaConnector(llm, KVPool([DiskTier("disk", root, 1 << 30, LRU())]), block, model_id).prefill(tokens)
    print(report.stored_blocks)
    """
)


def test_a_replica_in_another_process_hits_on_blocks_this_one_computed(
    llm: Any, model_path: Path, tmp_path: Path
) -> None:
    tokens = prompt(llm, "lighthouses", 260)
    argv = [sys.executable, "-c", _REPLICA, str(model_path), str(tmp_path), str(BLOCK), MODEL_ID]
    done = subprocess.run([*argv, ",".join(map(str, tokens))], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "4"  # whole blocks stored
    pool = KVPool([MemoryTier("memory", 1 << 30, LRU()), DiskTier("disk", tmp_path, 1 << 30, LRU())])
    report, got, _ = run(LlamaConnector(llm, pool, BLOCK, MODEL_ID), tokens)
    assert report.restored_tokens == 256
    _, expected, _ = run(LlamaConnector(llm, memory_pool(), BLOCK, MODEL_ID), tokens)
    assert got == expected


SMALL_BLOCK = 32
VARIED = [
    "Write a haiku about rain on a tin roof.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n" * 3,
    "Translate into French: the cat sleeps on the warm windowsill while the kettle sings. " * 4,
    "Q: What is the capital of Australia? A: Canberra. Q: And of Canada? A:" * 3,
    "1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, " * 5,
    "System: you are a careful assistant. Tools: search(query), fetch(url).\nUser: plan a trip to Lisbon.\n" * 3,
    "The mitochondria is the powerhouse of the cell; ATP synthase turns a proton gradient into energy. " * 3,
    "SELECT name, COUNT(*) FROM orders JOIN customers USING (customer_id) GROUP BY name ORDER BY 2 DESC;\n" * 4,
]


def test_greedy_output_is_identical_after_restores_over_many_prompts(llm: Any) -> None:
    """Varied prompts (prose, code, numbers, dialogue), 32-token blocks, each restored after a cold run."""
    restored_any = 0
    for text in VARIED:
        tokens = llm.tokenize(text.encode())[:160]
        pool = memory_pool()
        _, expected, expected_logits = run(LlamaConnector(llm, pool, SMALL_BLOCK, MODEL_ID), tokens)  # cold
        report, got, logits = run(LlamaConnector(llm, pool, SMALL_BLOCK, MODEL_ID), tokens)
        assert report.restored_tokens == ((len(tokens) - 1) // SMALL_BLOCK) * SMALL_BLOCK, text[:40]
        assert got == expected, text[:40]
        assert np.array_equal(logits, expected_logits), text[:40]
        restored_any += report.restored_tokens > 0
    assert restored_any >= len(VARIED) - 1  # all but prompts shorter than one block
