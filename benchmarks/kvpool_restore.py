"""Benchmark restoring a cached prefix into the embedded engine, per tier, against its limits.

One run, one process, Gemma 3 270M Q4_K_M on llama.cpp (2 threads, n_ctx 4096, 256-token blocks):

1. time to first token (TTFT) of a 2,048-token prompt whose first 1,792 tokens were computed
   before, by a connector whose pool holds them in host memory, on local disk (page cache, and
   after dropping the page cache when run as root), or in Redis on loopback; the engine's own
   context is cleared first, so nothing survives in it. Next to it, cold (nothing cached) and the
   limit: the TTFT of the 256 new tokens alone, prefilled from an empty context; and, for
   reference, the TTFT when the engine's own context still holds the 1,792 tokens;
2. block put/get throughput of each tier with real blocks (the ~4.6 MB cells of 256 tokens),
   next to that tier's own limit measured in the same run: a memcpy of the same bytes, reading
   the block file raw, a Redis GET of the same value with no framing or checksum.

TTFT is the prefill's wall time plus picking the first token from its logits. The run holds the
benchmark lock; Redis is started on loopback when ``redis-server`` is installed (else skipped).

    .venv/bin/python benchmarks/kvpool_restore.py             # about 2 minutes
    .venv/bin/python benchmarks/kvpool_restore.py --repeat 1  # quicker, rougher

Prints JSON and writes benchmarks/results/kvpool_restore.json; a Markdown summary on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import redis

import procs
from blacksoil.kvpool import DiskTier, KVPool, MemoryTier, RedisTier, Tier
from blacksoil.kvpool.connectors.llama import LlamaConnector
from blacksoil.kvpool.policies import LRU
from blacksoil.tokens.weights import ensure_default_model

RESULTS = procs.ROOT / "benchmarks" / "results" / "kvpool_restore.json"
BLOCK = 256
PROMPT_TOKENS = 2048
CACHED_TOKENS = 1792
TEXT = "Log of the lighthouse at Skerry Point, entry {}: wind from the west, heavy swell, lamp trimmed at dusk. "


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="measurements per condition (median reported)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    model = ensure_default_model(Path.home() / ".cache" / "blacksoil" / "test-models")
    with procs.bench_lock(), tempfile.TemporaryDirectory() as scratch, redis_server() as redis_url:
        llm = llama_cpp.Llama(str(model), n_ctx=4096, n_threads=2, n_batch=512, verbose=False)
        result: dict[str, Any] = {
            "machine": procs.machine(),
            "setup": {"model": model.name, "n_threads": 2, "n_ctx": 4096, "block_tokens": BLOCK,
                      "prompt_tokens": PROMPT_TOKENS, "cached_tokens": CACHED_TOKENS, "repeat": args.repeat},
        }  # fmt: skip
        tiers = make_tiers(Path(scratch), redis_url)
        result["ttft"] = ttft(llm, tiers, args.repeat)
        result["throughput"] = throughput(llm, tiers, Path(scratch))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    procs.log(summary(result))


def make_tiers(scratch: Path, redis_url: str | None) -> dict[str, Callable[[], Tier]]:
    tiers: dict[str, Callable[[], Tier]] = {
        "memory": lambda: MemoryTier("memory", 1 << 32, LRU()),
        "disk": lambda: DiskTier("disk", scratch / "disk", 1 << 34, LRU()),
    }
    if redis_url:
        tiers["redis"] = lambda: RedisTier("redis", redis_url, 0)
    return tiers


def prompt(llm: Any, salt: str) -> list[int]:
    text = "".join(TEXT.format(f"{salt}-{i}") for i in range(200))
    tokens: list[int] = llm.tokenize(text.encode())
    assert len(tokens) >= PROMPT_TOKENS
    return tokens[:PROMPT_TOKENS]


def timed_first_token(connector: LlamaConnector, tokens: list[int]) -> tuple[float, Any]:
    started = time.perf_counter()
    report = connector.prefill(tokens)
    logits = llama_cpp.llama_get_logits_ith(connector.llm._ctx.ctx, -1)
    np.argmax(np.ctypeslib.as_array(logits, shape=(connector.llm.n_vocab(),)))
    return time.perf_counter() - started, report


def ttft(llm: Any, tiers: dict[str, Callable[[], Tier]], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    samples: dict[str, list[float]] = {}
    restore: dict[str, list[float]] = {}
    for r in range(repeat):
        tokens = prompt(llm, f"run{r}")
        seen = tokens[:CACHED_TOKENS] + prompt(llm, f"other{r}")[: PROMPT_TOKENS - CACHED_TOKENS]
        # the limit: the 256 new tokens alone, from an empty context
        limit_s, _ = timed_first_token(LlamaConnector(llm, KVPool([MemoryTier("m", 1 << 32, LRU())]), BLOCK, "x"),
                                       tokens[CACHED_TOKENS:])  # fmt: skip
        samples.setdefault("limit_256_new_tokens_alone", []).append(limit_s)
        samples.setdefault("reference_prefix_in_live_context", []).append(live_prefix(llm, tokens))
        for name, make in tiers.items():
            pool = KVPool([make()])
            # an earlier request computed the shared 1,792 tokens (its own last 256 differ)
            _, report = timed_first_token(LlamaConnector(llm, pool, BLOCK, f"gemma-{r}"), seen)
            assert report.stored_blocks == PROMPT_TOKENS // BLOCK
            if name == "memory":
                cold_s, _ = timed_first_token(LlamaConnector(llm, KVPool([make()]), BLOCK, "cold"), tokens)
                samples.setdefault("cold", []).append(cold_s)
            conditions = [name]
            if name == "disk" and drop_page_cache():
                conditions = ["disk_page_cache", "disk_after_drop_caches"]
            for condition in conditions:
                if condition == "disk_after_drop_caches":
                    drop_page_cache()
                s, report = timed_first_token(LlamaConnector(llm, pool, BLOCK, f"gemma-{r}"), tokens)
                assert report.restored_tokens == CACHED_TOKENS, report
                samples.setdefault(condition, []).append(s)
                restore.setdefault(condition, []).append(report.restore_s)
            pool.close()
    limit = statistics.median(samples["limit_256_new_tokens_alone"])
    for condition, values in samples.items():
        median = statistics.median(values)
        out[condition] = {"ttft_s": round(median, 4), "vs_limit": round(median / limit, 3), "samples": values}
        if condition in restore:
            out[condition]["restore_s"] = round(statistics.median(restore[condition]), 4)
    return out


def live_prefix(llm: Any, tokens: list[int]) -> float:
    """TTFT of the last 256 tokens when the engine's own context still holds the 1,792 before them.

    Not a floor for a restore: llama.cpp's full-size sliding-window cache then still holds every
    earlier cell, which its attention walks over, while a restored sequence holds the last 512.
    """
    llm.reset()
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llm._ctx.ctx), 0, -1, -1)
    for start in range(0, CACHED_TOKENS, BLOCK):
        llm.eval(tokens[start : start + BLOCK])
    started = time.perf_counter()
    llm.eval(tokens[CACHED_TOKENS:])
    logits = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    np.argmax(np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)))
    return time.perf_counter() - started


def throughput(llm: Any, tiers: dict[str, Callable[[], Tier]], scratch: Path) -> dict[str, Any]:
    """Put and get of real blocks per tier, next to the raw operation underneath."""
    pool = KVPool([MemoryTier("m", 1 << 32, LRU())])
    LlamaConnector(llm, pool, BLOCK, "blocks").prefill(prompt(llm, "blocks"))
    memory = pool.tiers[0]
    assert isinstance(memory, MemoryTier)
    blocks = list(memory._data.items())  # the real payloads
    size = sum(len(b) for _, b in blocks)
    out: dict[str, Any] = {"block_bytes": len(blocks[0][1]), "blocks": len(blocks)}
    for name, make in tiers.items():
        tier = make()
        put_s = best_of(3, lambda t=tier: [t.put(k, b) for k, b in blocks], reset=lambda t=tier: clear(t, blocks))
        get_s = best_of(3, lambda t=tier: [t.get(k) for k, _ in blocks])
        out[name] = {"put_mb_s": round(size / put_s / 1e6, 1), "get_mb_s": round(size / get_s / 1e6, 1)}
        tier.close()
    raw = [b for _, b in blocks]
    out["memory"]["limit_memcpy_mb_s"] = round(size / best_of(3, lambda: [bytearray(b) for b in raw]) / 1e6, 1)
    disk = tiers["disk"]()
    assert isinstance(disk, DiskTier)
    files = [disk._path(k) for k, _ in blocks]
    out["disk"]["limit_raw_read_mb_s"] = round(size / best_of(3, lambda: [f.read_bytes() for f in files]) / 1e6, 1)
    if "redis" in tiers:
        client = redis.Redis.from_url(tiers["redis"]().url)  # type: ignore[attr-defined]
        for i, b in enumerate(raw):
            client.set(f"raw:{i}", b)
        get_raw = best_of(3, lambda: [client.get(f"raw:{i}") for i in range(len(raw))])
        out["redis"]["limit_raw_get_mb_s"] = round(size / get_raw / 1e6, 1)
        out["redis"]["limit_ping_ms"] = round(best_of(50, client.ping) * 1000, 3)
        client.close()
    return out


def clear(tier: Tier, blocks: list[tuple[bytes, bytes]]) -> None:
    for key, _ in blocks:
        tier.delete(key)


def best_of(n: int, fn: Callable[[], object], reset: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(n):
        if reset is not None:
            reset()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def drop_page_cache() -> bool:
    """Drop the kernel's page cache (root only), so the next disk read really reads the disk."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        procs.log("redis-server not installed: the Redis tier is skipped")
        yield None
        return
    port = procs.free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        try:
            for _ in range(500):
                with contextlib.suppress(redis.ConnectionError):
                    client.ping()
                    break
                time.sleep(0.02)
            yield url
        finally:
            client.close()
            proc.terminate()
            proc.wait(timeout=10)


def summary(result: dict[str, Any]) -> str:
    t = result["ttft"]
    lines = ["", "| condition | TTFT | vs the limit | restore |", "|---|---|---|---|"]
    for name, v in t.items():
        lines.append(f"| {name} | {v['ttft_s'] * 1000:.0f} ms | {v['vs_limit']:.2f}x | "
                     f"{v.get('restore_s', 0) * 1000:.1f} ms |")  # fmt: skip
    lines.append("")
    for name, v in result["throughput"].items():
        if isinstance(v, dict):
            lines.append(f"{name}: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
