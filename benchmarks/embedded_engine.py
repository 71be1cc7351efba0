"""Benchmark the embedded engine (llama.cpp serving Gemma 3 270M Q4_K_M) on this machine.

One run measures, for prompts of 128, 512 and 2048 tokens:

1. raw llama.cpp in this process (no server): prefill tokens/s (a fresh ``eval`` of the prompt
   after ``reset()``) and decode tokens/s (single-token ``eval`` steps, greedy) with n_threads=2;
   also decode with 1 thread (llama-cpp-python's own default on 2 cores);
2. the gateway over HTTP (``blacksoil serve tokens`` on 127.0.0.1, default config): streaming
   /v1/completions with temperature 0; time to first token (TTFT), prefill tokens/s
   (prompt tokens / TTFT), decode tokens/s ((completion tokens - 1) / (last - first token));
   each request alone (medians over repetitions) and 4 at once (the engine serves one request at
   a time, in arrival order, so the later ones queue);
3. optionally (``--variant-threads N``), the gateway again with ``n_threads = N`` in its config.

Every prompt starts with a different number, so llama.cpp's KV-cache prefix reuse cannot skip the
prefill. The run holds an exclusive flock on /tmp/blacksoil-bench.lock (benchmarks never overlap)
and records the CPU other processes used meanwhile. Results: JSON on stdout and in
benchmarks/results/embedded_engine.json; a Markdown table on stderr.

    .venv/bin/python benchmarks/embedded_engine.py            # full run, about 4 minutes
    .venv/bin/python benchmarks/embedded_engine.py --quick    # under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import llama_cpp
import numpy as np

from blacksoil.tokens.weights import ensure_default_model

LOCK_PATH = "/tmp/blacksoil-bench.lock"
RESULTS = Path(__file__).resolve().parent / "results" / "embedded_engine.json"
MODEL = "gemma-3-270m"
PARAGRAPH = (
    "The river delta spreads across the lowland plain, where farmers plant rice in the wet season "
    "and vegetables once the water recedes. Each spring the cooperative measures the silt left by "
    "the floods, records the height of the levees, and sends a short report to the district office. "
    "Last year the engineers replaced two pumping stations, dredged the northern canal, and planted "
    "a belt of mangroves to slow the tide. Yields rose by a tenth, although the price of fertiliser "
    "doubled and three villages still lack a paved road to the market town.\n\n"
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short run: prompts 128 and 512, 1 repetition, 32 tokens")
    p.add_argument("--lengths", type=int, nargs="+", metavar="N", help="prompt lengths in tokens [128 512 2048]")
    p.add_argument("--reps", type=int, help="repetitions of each measurement alone [3; --quick: 1]")
    p.add_argument("--max-tokens", type=int, help="tokens generated per request [128; --quick: 32]")
    p.add_argument("--concurrency", type=int, default=4, help="requests sent at once [4]")
    p.add_argument("--variant-threads", type=int, metavar="N", help="also serve with n_threads = N (alone only)")
    p.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output file [{RESULTS.name} in results/]")
    args = p.parse_args()
    args.lengths = args.lengths or ([128, 512] if args.quick else [128, 512, 2048])
    args.reps = args.reps or (1 if args.quick else 3)
    args.max_tokens = args.max_tokens or (32 if args.quick else 128)
    return args


def log(msg: str) -> None:
    print(f"[embedded_engine] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    with open(LOCK_PATH, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for {LOCK_PATH} (another benchmark is running)")
            fcntl.flock(fh, fcntl.LOCK_EX)
            time.sleep(3)  # let the other benchmark's processes exit
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def machine() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), "?")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "checkout": git("describe", "--always", "--dirty"),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def git(*args: str) -> str:
    cmd = ["git", "-C", str(Path(__file__).resolve().parent), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip() or "?"


class CpuMeter:
    """CPU time used by other processes (and stolen by the hypervisor) while the benchmark runs."""

    def __init__(self) -> None:
        self.t0, self.stat0, self.own0 = time.monotonic(), self._stat(), self._own()

    @staticmethod
    def _stat() -> tuple[float, float]:
        first = Path("/proc/stat").read_text().split("\n", 1)[0]
        f = [int(x) / os.sysconf("SC_CLK_TCK") for x in first.split()[1:9]]
        return f[0] + f[1] + f[2] + f[5] + f[6], f[7]  # busy (user nice system irq softirq), steal

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def report(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        (busy1, steal1), (busy0, steal0) = self._stat(), self.stat0
        own = self._own() - self.own0
        other = max(0.0, busy1 - busy0 - own)
        out = {"wall_s": wall, "benchmark_and_server_cpu_s": own, "other_processes_cpu_s": other}
        out |= {"other_processes_avg_cores": other / wall, "steal_s": steal1 - steal0}
        return {k: round(v, 2) for k, v in out.items()}


def med(xs: list[float], nd: int = 1) -> float | None:
    return round(statistics.median(xs), nd) if xs else None


# -- prompts ------------------------------------------------------------------------------------


class Prompts:
    """Texts of an exact token count (BOS included, as the engine tokenizes), each one different."""

    def __init__(self, llm: Any) -> None:
        self.llm, self.counter = llm, 0

    def make(self, n: int) -> tuple[str, list[int]]:
        self.counter += 1
        body = f"{self.counter * 7919 % 100000}. Field report.\n" + PARAGRAPH * (n // 60 + 2)
        toks = self.llm.tokenize(body.encode(), add_bos=True, special=False)
        for cut in (n, n - 1, n + 1, n - 2, n + 2, n - 3, n + 3):
            text = self.llm.detokenize(toks[1:cut]).decode("utf-8", "ignore")
            tokens = self.llm.tokenize(text.encode(), add_bos=True, special=False)
            if len(tokens) == n:
                return text, tokens
        return text, tokens  # close enough; the reported prompt_tokens say exactly


# -- raw llama.cpp ------------------------------------------------------------------------------


def raw_decode(llm: Any, steps: int) -> tuple[float, float]:
    """Greedy single-token eval steps from the current state; (wall tok/s, llama_perf t_eval tok/s)."""
    ctx = llm._ctx.ctx
    n_vocab = llm.n_vocab()
    llama_cpp.llama_perf_context_reset(ctx)
    spent = 0.0
    for _ in range(steps):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        token = int(logits.argmax())
        t0 = time.perf_counter()
        llm.eval([token])
        spent += time.perf_counter() - t0
    perf = llama_cpp.llama_perf_context(ctx)
    return steps / spent, perf.n_eval / (perf.t_eval_ms / 1000) if perf.t_eval_ms else 0.0


def bench_raw(model_path: Path, args: argparse.Namespace) -> tuple[dict[str, Any], Prompts]:
    log(f"raw llama.cpp: loading {model_path.name} (n_ctx 8192, n_threads 2)")
    llm = llama_cpp.Llama(str(model_path), n_ctx=8192, n_threads=2, verbose=False)
    prompts = Prompts(llm)
    llm.reset()
    llm.eval(prompts.make(64)[1])  # warm-up
    out: dict[str, Any] = {"n_threads": 2, "n_threads_batch": 2, "n_batch": llm.n_batch, "by_length": {}}
    for n in args.lengths:
        pre, dec, perf, dec1 = [], [], [], []
        for _ in range(args.reps):
            tokens = prompts.make(n)[1]
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(tokens)
            pre.append(len(tokens) / (time.perf_counter() - t0))
            wall, t_eval = raw_decode(llm, args.max_tokens)
            dec.append(wall)
            perf.append(t_eval)
        # For reference: 1 decode thread, llama-cpp-python's default (cores // 2) on this machine.
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, 1, 2)
        llm.reset()
        llm.eval(prompts.make(n)[1])
        dec1.append(raw_decode(llm, args.max_tokens)[0])
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, 2, 2)
        out["by_length"][str(n)] = {
            "prefill_tok_s": med(pre),
            "decode_tok_s": med(dec),
            "decode_perf_t_eval_tok_s": med(perf),
            "decode_1_thread_tok_s": med(dec1),
            "samples": {"prefill": [round(x, 1) for x in pre], "decode": [round(x, 1) for x in dec]},
        }
        log(f"  raw {n:>5} tokens: prefill {med(pre)} tok/s, decode {med(dec)} tok/s (1 thread: {med(dec1)})")
    return out, prompts


# -- the gateway --------------------------------------------------------------------------------


@contextlib.contextmanager
def server(home: Path, config: Path | None) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("blacksoil")
    cmd = [str(exe), "serve", "tokens", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--config", str(config)] if config else []
    logfile = home / f"server-{port}.log"
    env = {**os.environ, "BLACKSOIL_HOME": str(home)}
    with open(logfile, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = logfile.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the server did not become ready (exit {proc.returncode}):\n{tail}")
            with contextlib.suppress(OSError):
                if opener.open(f"{base}/readyz", timeout=2).status == 200:
                    break
            time.sleep(0.25)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def stream_one(session: aiohttp.ClientSession, base: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True}
    body["stream_options"] = {"include_usage": True}
    sent = time.perf_counter()
    first = last = None
    usage: dict[str, Any] = {}
    async with session.post(f"{base}/v1/completions", json=body) as resp:
        resp.raise_for_status()
        async for raw in resp.content:
            line = raw.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            now, event = time.perf_counter(), json.loads(line[6:])
            if "error" in event:
                raise RuntimeError(f"stream error: {event['error']}")
            if any(c.get("text") for c in event.get("choices", [])):
                first = first or now
                last = now
            usage = event.get("usage") or usage
    done = time.perf_counter()
    if first is None or last is None or not usage:
        raise RuntimeError("the stream had no text or no usage")
    n_out, n_in = usage["completion_tokens"], usage["prompt_tokens"]
    decode = (n_out - 1) / (last - first) if n_out > 1 and last > first else None
    out = {"sent": sent, "done": done, "ttft_s": first - sent, "prompt_tokens": n_in, "completion_tokens": n_out}
    return out | {"prefill_tok_s": n_in / (first - sent), "decode_tok_s": decode}


def summarize(rs: list[dict[str, Any]]) -> dict[str, Any]:
    dec = [r["decode_tok_s"] for r in rs if r["decode_tok_s"]]
    return {
        "requests": len(rs),
        "prompt_tokens": sorted({r["prompt_tokens"] for r in rs}),
        "completion_tokens": sorted({r["completion_tokens"] for r in rs}),
        "ttft_ms_median": med([r["ttft_s"] * 1000 for r in rs], 0),
        "ttft_ms_max": round(max(r["ttft_s"] for r in rs) * 1000),
        "prefill_tok_s": med([r["prefill_tok_s"] for r in rs]),
        "decode_tok_s": med(dec),
        "decode_tok_s_min": round(min(dec), 1) if dec else None,
        "samples_ttft_ms": [round(r["ttft_s"] * 1000) for r in rs],
    }


async def bench_gateway(base: str, prompts: Prompts, args: argparse.Namespace, concurrent: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"alone": {}, "concurrent": {}}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await stream_one(session, base, prompts.make(32)[0], 8)  # warm-up
        for n in args.lengths:
            alone = [await stream_one(session, base, prompts.make(n)[0], args.max_tokens) for _ in range(args.reps)]
            out["alone"][str(n)] = s = summarize(alone)
            log(f"  gateway {n:>5} alone: TTFT {s['ttft_ms_median']} ms, decode {s['decode_tok_s']} tok/s")
            if not concurrent:
                continue
            texts = [prompts.make(n)[0] for _ in range(args.concurrency)]
            rs = await asyncio.gather(*(stream_one(session, base, t, args.max_tokens) for t in texts))
            wall = max(r["done"] for r in rs) - min(r["sent"] for r in rs)
            c = summarize(list(rs))
            c["aggregate_output_tok_s"] = round(sum(r["completion_tokens"] for r in rs) / wall, 1)
            c["wall_s"] = round(wall, 1)
            out["concurrent"][str(n)] = c
            log(f"  gateway {n:>5} x{args.concurrency}: TTFT median {c['ttft_ms_median']} / max {c['ttft_ms_max']} ms")
    return out


def run_gateway(home: Path, threads: int | None, prompts: Prompts, args: Any, concurrent: bool) -> dict[str, Any]:
    config = None
    if threads:
        config = home / f"threads{threads}.toml"
        replica = f'engine = "embedded"\nn_threads = {threads}\n'
        config.write_text(f'[[tokens.models]]\nname = "{MODEL}"\n[[tokens.models.replicas]]\n{replica}')
    phase = CpuMeter()
    with server(home, config) as base:
        out = asyncio.run(bench_gateway(base, prompts, args, concurrent))
    return out | {"cpu": phase.report()}


# -- report -------------------------------------------------------------------------------------


def goals(res: dict[str, Any]) -> dict[str, Any]:
    rows = {}
    for n, r in res["raw"]["by_length"].items():
        g = res["gateway"]["alone"][n]["decode_tok_s"] or 0.0
        row = {"gateway_decode_pct_of_raw": round(100 * g / r["decode_tok_s"], 1), "abs_ok": g >= 25}
        row["ratio_ok"] = row["gateway_decode_pct_of_raw"] >= 90
        if "gateway_variant" in res:
            g2 = res["gateway_variant"]["alone"][n]["decode_tok_s"] or 0.0
            row["variant_decode_pct_of_raw"] = round(100 * g2 / r["decode_tok_s"], 1)
        rows[n] = row
    met = all(r["ratio_ok"] and r["abs_ok"] for r in rows.values())
    return {"decode_ratio_goal_pct": 90, "decode_abs_goal_tok_s": 25, "by_length": rows, "met": met}


def markdown(res: dict[str, Any]) -> str:
    gw, v, c = res["gateway"], res.get("gateway_variant"), res["config"]["concurrency"]
    lines = [
        "| prompt | mode | TTFT median (max) ms | prefill tok/s | decode tok/s | % of raw decode "
        "| raw prefill | raw decode 2 thr (1 thr) | variant: TTFT ms, decode tok/s (%) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in res["raw"]["by_length"].items():
        a, g = gw["alone"][n], res["goals"]["by_length"][n]
        alt = f"{v['alone'][n]['ttft_ms_median']:.0f}, {v['alone'][n]['decode_tok_s']} " if v else ""
        alt += f"({g['variant_decode_pct_of_raw']}%)" if v else ""
        lines.append(
            f"| {n} | alone | {a['ttft_ms_median']:.0f} ({a['ttft_ms_max']}) | {a['prefill_tok_s']} | "
            f"{a['decode_tok_s']} | {g['gateway_decode_pct_of_raw']}% | {r['prefill_tok_s']} | "
            f"{r['decode_tok_s']} ({r['decode_1_thread_tok_s']}) | {alt} |"
        )
        if n in gw["concurrent"]:
            k = gw["concurrent"][n]
            lines.append(
                f"| {n} | {c} at once | {k['ttft_ms_median']:.0f} ({k['ttft_ms_max']}) | {k['prefill_tok_s']}* | "
                f"{k['decode_tok_s']} (aggregate {k['aggregate_output_tok_s']}) | | | | |"
            )
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    with bench_lock(), tempfile.TemporaryDirectory(prefix="blacksoil-bench-") as tmp:
        started = time.monotonic()
        meter = CpuMeter()
        home = Path(tmp)
        res: dict[str, Any] = {"benchmark": "embedded_engine", "machine": machine()}
        res["config"] = {k: v for k, v in vars(args).items() if k != "out"}
        res["config"] |= {"model": MODEL, "temperature": 0, "endpoint": "/v1/completions (stream)"}
        model_path = ensure_default_model(home / "models")
        phase = CpuMeter()
        res["raw"], prompts = bench_raw(model_path, args)
        res["raw"]["cpu"] = phase.report()
        log("gateway (default config): starting `blacksoil serve tokens`")
        res["gateway"] = run_gateway(home, None, prompts, args, concurrent=args.concurrency > 1)
        if args.variant_threads:
            log(f"gateway (n_threads = {args.variant_threads} in the config): restarting the server")
            variant = argparse.Namespace(**{**vars(args), "reps": max(1, args.reps - 1)})
            res["gateway_variant"] = run_gateway(home, args.variant_threads, prompts, variant, concurrent=False)
            res["gateway_variant"]["n_threads"] = args.variant_threads
        res["goals"] = goals(res)
        res["cpu"] = meter.report()
        for name in ("raw", "gateway", "gateway_variant"):
            busy = res.get(name, {}).get("cpu", {}).get("other_processes_avg_cores", 0)
            if busy > 0.1:
                log(f"warning: other processes used {busy} cores on average during '{name}'; numbers are noisy")
        res["elapsed_s"] = round(time.monotonic() - started, 1)
    print(markdown(res), file=sys.stderr)
    text = json.dumps(res, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
