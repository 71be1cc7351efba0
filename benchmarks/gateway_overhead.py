"""Gateway overhead: what the blacksoil token gateway adds on top of a fast upstream, side by side with LiteLLM.

One run, one machine, one mock upstream, one load generator. For concurrency 1, 16 and 64 and three
modes, it measures latency straight to the mock and through each gateway (p50/p99; added = through
minus direct), time to the first streamed byte, the most requests/s the gateway passes, and the
gateway's CPU time per request and per streamed chunk (utime+stime from /proc/<pid>/stat). Modes:

* nonstream: one JSON completion.
* stream: 20 chunks and [DONE], written by the mock all at once: the gateway gets them in one or two
  reads, the best case for a gateway that handles what arrived together as one batch.
* stream_spaced: the same 20 chunks, each --chunk-gap-ms (default 1) after the one before, as an
  engine's decode steps would send them: each arrives in its own read. Direct to the mock has the same
  gaps. At low concurrency the gaps, not the gateway, limit requests/s; CPU per chunk is the figure.

Pinning: each gateway runs alone on core 0 (taskset -c 0); the mock and this script (the load
generator) share core 1. The whole run holds an exclusive flock on /tmp/blacksoil-bench.lock.

LiteLLM runs from its own venv (default .venv-bench; --install-litellm creates it) with one worker.

Prints JSON and writes it to benchmarks/results/gateway_overhead.json. Where the gateway's CPU goes:
benchmarks/gateway_profile.py (py-spy).

  .venv/bin/python benchmarks/gateway_overhead.py            # full run, about 4.5 minutes
  .venv/bin/python benchmarks/gateway_overhead.py --quick    # about 1.5 minutes, rougher figures
  .venv/bin/python benchmarks/gateway_overhead.py --only blacksoil
  .venv/bin/python benchmarks/gateway_overhead.py --source-ref HEAD   # ignore uncommitted edits in src/
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uvloop

import loadgen
import procs
import targets

RESULTS = procs.ROOT / "benchmarks" / "results"
MODES = {"nonstream": False, "stream": True, "stream_spaced": True}  # mode: streamed?
SPACED = {"stream_spaced"}  # modes whose requests go to the mock's /spaced/v1
# One gateway process per upstream path, each with one model: a second model in LiteLLM's config
# alone made it 6-25% slower.
UPSTREAMS = {"/v1": ("nonstream", "stream"), "/spaced/v1": ("stream_spaced",)}
STREAM_CHUNKS = 20
GOALS = {
    "added_p50_ms_c1": 1.0,
    "added_p99_ms_c1": 2.0,
    "max_rps_vs_litellm": 20.0,
    "added_ttfb_p50_ms_c1": 1.0,
}
LITELLM_REFERENCE = {
    "note": "measured before on this kind of machine, LiteLLM 1.106, one worker",
    "added_p50_ms_c1": 17.0,
    "added_p99_ms_c1": 26.0,
    "max_rps": {"nonstream": 66.0, "stream": 24.0},
    "cpu_ms_per_stream_chunk": 1.1,
}
NOISY_CORES = 0.25  # other processes using more CPU than this during a phase make it noisy


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def request_bytes(port: int, mode: str, direct: bool = False) -> bytes:
    """A chat completion request for ``mode``; ``direct``: addressed to the mock rather than a gateway."""
    body = {
        "model": "mock",
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 32,
        "stream": MODES[mode],
    }
    path = ("/spaced" if mode in SPACED and direct else "") + "/v1/chat/completions"
    auth = {"authorization": f"Bearer {targets.LITELLM_KEY}"}  # LiteLLM needs it; the others ignore it
    return loadgen.build_request("127.0.0.1", port, "POST", path, json.dumps(body).encode(), auth)


class Bench:
    def __init__(self, args: argparse.Namespace, mock: procs.Server, mock_port: int) -> None:
        self.args = args
        self.mock = mock
        self.mock_port = mock_port

    async def phase(
        self, port: int, mode: str, concurrency: int, gateway_pid: int | None, warmup_s: float, duration_s: float
    ) -> dict[str, Any]:
        """One measured phase; redone once if other processes took CPU during it."""
        for attempt in range(2):
            result = await self._phase(port, mode, concurrency, gateway_pid, warmup_s, duration_s)
            if result["background_cpu_cores"] <= NOISY_CORES or attempt:
                return result
            log(f"  other processes used {result['background_cpu_cores']} cores; waiting for quiet, then redoing")
            ours = [os.getpid(), self.mock.pid, *([gateway_pid] if gateway_pid else [])]
            await procs.wait_quiet(self.args.quiet_wait_s, ours)
        raise AssertionError("unreachable")

    async def _phase(
        self, port: int, mode: str, concurrency: int, gateway_pid: int | None, warmup_s: float, duration_s: float
    ) -> dict[str, Any]:
        mine = [os.getpid(), self.mock.pid] + ([gateway_pid] if gateway_pid else [])
        marks: dict[str, tuple[float, ...]] = {}

        def sample(name: str) -> None:
            gw = procs.cpu_seconds([gateway_pid]) if gateway_pid else 0.0
            # This process's own CPU (its children are the servers) plus the mock's: the client core.
            client = procs.cpu_seconds([os.getpid()], descendants=False) + procs.cpu_seconds([self.mock.pid])
            marks[name] = (gw, client, procs.system_busy_s(), procs.cpu_seconds(mine), procs.steal_s())

        stream = MODES[mode]
        res = await loadgen.run_phase(
            "127.0.0.1", port, request_bytes(port, mode, direct=gateway_pid is None), concurrency=concurrency,
            warmup_s=warmup_s,
            duration_s=duration_s, stream=stream, on_window_start=lambda: sample("a"),
            on_window_end=lambda: sample("b"),
        )  # fmt: skip
        out = res.summary(stream)
        (gw0, cl0, sys0, mine0, st0), (gw1, cl1, sys1, mine1, st1) = marks["a"], marks["b"]
        out["client_core_busy"] = round((cl1 - cl0) / duration_s, 2)
        out["background_cpu_cores"] = round(max(0.0, (sys1 - sys0) - (mine1 - mine0)) / duration_s, 2)
        out["steal_s"] = round(st1 - st0, 2)
        if gateway_pid:
            done = max(1, res.completed_in_window)
            out["gateway_core_busy"] = round((gw1 - gw0) / duration_s, 2)
            out["gateway_cpu_ms_per_request"] = round(1000 * (gw1 - gw0) / done, 3)
            if stream:
                out["gateway_cpu_us_per_chunk"] = round(1e6 * (gw1 - gw0) / done / STREAM_CHUNKS, 1)
            out["gateway_rss_mb"] = procs.rss_mb(gateway_pid)
        return out

    async def matrix(
        self, port: int, gateway_pid: int | None, warmup_s: float, duration_s: float, modes: Iterable[str] = MODES
    ) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for mode in modes:
            for c in self.args.concurrency:
                r = await self.phase(port, mode, c, gateway_pid, warmup_s, duration_s)
                lat = r["latency_ms"]
                log(f"  {mode:9} c={c:<3} {r['rps']:>9} req/s  p50 {lat.get('p50')} ms  p99 {lat.get('p99')} ms")
                results.setdefault(mode, {})[f"c{c}"] = r
        return results

    async def check(self, port: int, modes: Iterable[str]) -> dict[str, Any]:
        """A few requests per mode; each must be a 200 (and, streamed, at least 21 events ending in [DONE])."""
        seen = {}
        for mode in modes:
            stream = MODES[mode]
            answers = await loadgen.probe("127.0.0.1", port, request_bytes(port, mode), n=3)
            bad = [a for a in answers if a["status"] != 200 or (stream and not _whole_stream(a))]
            if bad:
                raise RuntimeError(f"sanity check failed for {mode}: {answers}")
            seen[mode] = answers
        return seen


def derive(direct: dict[str, Any], through: dict[str, Any]) -> dict[str, Any]:
    """Per condition: added latency (through minus direct), added time to first byte, throughput, CPU."""
    out: dict[str, Any] = {}
    for mode, by_c in through.items():
        for key, g in by_c.items():
            d = direct[mode][key]
            row = {
                "added_latency_ms": _diff(g["latency_ms"], d["latency_ms"]),
                "rps": g["rps"],
                "gateway_cpu_ms_per_request": g.get("gateway_cpu_ms_per_request"),
                "errors": g["errors"],
            }
            if MODES[mode]:
                row["added_ttfb_ms"] = _diff(g["ttfb_ms"], d["ttfb_ms"])
                row["gateway_cpu_us_per_chunk"] = g.get("gateway_cpu_us_per_chunk")
                row["http_chunks_per_response"] = g.get("http_chunks_per_response")
            out.setdefault(mode, {})[key] = row
        best = max(by_c.values(), key=lambda r: r["rps"])
        out[mode]["max_rps"] = best["rps"]
        out[mode]["max_rps_at_concurrency"] = best["concurrency"]
        out[mode]["cpu_ms_per_request_at_max_rps"] = best.get("gateway_cpu_ms_per_request")
    return out


def _diff(g: dict[str, float], d: dict[str, float]) -> dict[str, float | None]:
    return {q: round(g[q] - d[q], 3) if q in g and q in d else None for q in ("p50", "p99")}


def goals(gateways: dict[str, Any]) -> list[dict[str, Any]]:
    bs = gateways.get("blacksoil", {}).get("derived")
    ll = gateways.get("litellm", {}).get("derived")
    if bs is None:
        return []
    rows = []

    def row(name: str, mode: str, target: str, value: float | None, other: float | None, met: bool | None) -> None:
        rows.append({"goal": name, "mode": mode, "target": target, "blacksoil": value, "litellm": other, "met": met})

    for mode in MODES:
        c1 = bs[mode].get("c1")
        l1 = (ll or {}).get(mode, {}).get("c1") or {}
        if c1:
            for q, key in (("p50", "added_p50_ms_c1"), ("p99", "added_p99_ms_c1")):
                v = c1["added_latency_ms"][q]
                row(key, mode, f"<= {GOALS[key]:g} ms", v, (l1.get("added_latency_ms") or {}).get(q),
                    v is not None and v <= GOALS[key])  # fmt: skip
            if MODES[mode]:
                v = c1["added_ttfb_ms"]["p50"]
                key = "added_ttfb_p50_ms_c1"
                row(key, mode, f"<= {GOALS[key]:g} ms", v, (l1.get("added_ttfb_ms") or {}).get("p50"),
                    v is not None and v <= GOALS[key])  # fmt: skip
        other = ll[mode]["max_rps"] if ll else LITELLM_REFERENCE["max_rps"].get(mode)  # type: ignore[attr-defined]
        ratio = round(bs[mode]["max_rps"] / other, 1) if other else None
        name = "max_rps_vs_litellm" + ("" if ll else " (vs the reference figure: LiteLLM did not run)")
        rows.append({"goal": name, "mode": mode, "target": f">= {GOALS['max_rps_vs_litellm']:g}x",
                     "blacksoil": bs[mode]["max_rps"], "litellm": other, "ratio": ratio,
                     "met": None if ratio is None else ratio >= GOALS["max_rps_vs_litellm"]})  # fmt: skip
    return rows


def _whole_stream(answer: dict[str, object]) -> bool:
    """At least 21 events (20 chunks and [DONE]; LiteLLM sends one more), ending in [DONE]."""
    events = answer["events"]
    return bool(answer["done"]) and isinstance(events, int) and events >= 21


async def run_gateway(
    bench: Bench, name: str, args: argparse.Namespace, workdir: Path, core: int | None
) -> dict[str, Any]:
    """Measure one gateway: one process per upstream path (each configured with the one model ``mock``)."""
    info: dict[str, Any] = {"first_requests": {}, "conditions": {}}
    source = None
    if name == "litellm":
        info["versions"] = procs.venv_versions(targets.litellm_python(args.litellm_venv), targets.LITELLM_VERSIONS)
    elif args.source_ref:
        info["source"] = procs.export_source(args.source_ref, workdir / "source")
        source = workdir / "source" / "src"
    else:
        info["source"] = procs.source_state()
    for base, modes in UPSTREAMS.items():
        port = procs.free_port()
        try:
            log(f"starting {name} on core {core}, upstream {base}")
            if name == "blacksoil":
                server = targets.start_blacksoil(port, bench.mock_port, core, workdir, source, base)
            else:
                server = targets.start_litellm(port, bench.mock_port, core, workdir, args.litellm_venv, base)
        except (RuntimeError, OSError) as exc:
            log(f"{name} could not start: {exc}")
            return {**info, "status": "not run", "reason": str(exc)}
        try:
            info["first_requests"].update(await bench.check(port, modes))
            info.setdefault("startup_rss_mb", procs.rss_mb(server.pid))
            info["conditions"].update(await bench.matrix(port, server.pid, args.warmup, args.duration, modes))
        except (RuntimeError, OSError) as exc:
            info.update(status="failed", reason=f"{exc}\n{server.log_tail()}")
            log(f"{name} failed: {info['reason']}")
            return info
        finally:
            server.stop()
    info["status"] = "ok"
    if name == "blacksoil" and not args.source_ref and procs.source_state() != info["source"]:
        info["source_changed_during_run"] = procs.source_state()
        log("warning: src/ changed while blacksoil was measured (see source_changed_during_run)")
    return info


async def benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    procs.cancel_on_sigterm()
    gw_core, client_core = args.cores
    procs.pin(client_core)
    mock_port = procs.free_port()
    mock = targets.start_mock(mock_port, client_core, workdir, args.chunk_gap_ms)
    bench = Bench(args, mock, mock_port)
    out: dict[str, Any] = {"benchmark": "gateway_overhead", "command": args.command, "machine": args.machine}
    try:
        out["background_cpu_cores_at_start"] = await procs.wait_quiet(args.quiet_wait_s, [os.getpid(), mock.pid])
        log("mock upstream alone: load generator on the other core")
        procs.pin(gw_core)
        solo = {m: await bench.phase(mock_port, m, 64, None, 0.5, args.direct_duration) for m in MODES}
        procs.pin(client_core)
        out["mock_upstream"] = {
            "max_rps_one_core": {m: r["rps"] for m, r in solo.items()},
            "note": "mock on one core, load generator on the other; the direct rows below share one core",
        }
        log("direct to the mock (mock and load generator share a core)")
        direct = await bench.matrix(mock_port, None, args.direct_warmup, args.direct_duration)
        out["direct"] = direct
        gateways: dict[str, Any] = {}
        for name in args.only or ("blacksoil", "litellm"):
            gateways[name] = await run_gateway(bench, name, args, workdir, gw_core)
            if gateways[name].get("status") == "ok":
                gateways[name]["derived"] = derive(direct, gateways[name]["conditions"])
        out["gateways"] = gateways
        out["goals"] = goals(gateways)
        out["litellm_reference"] = LITELLM_REFERENCE
    finally:
        mock.stop()
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="2 s phases (~1 minute in all); rough figures: a gateway that needs ~1 s per request at "
                        "concurrency 64 completes in waves, so its requests/s can be off by a third")  # fmt: skip
    p.add_argument("--only", choices=("blacksoil", "litellm"), metavar="{blacksoil,litellm}", action="append",
                   help="run only this gateway (repeatable); default: both")  # fmt: skip
    p.add_argument(
        "--concurrency", default="1,16,64", metavar="LIST", help="comma-separated connection counts (default: 1,16,64)"
    )
    p.add_argument("--warmup", type=float, metavar="S", help="warm-up seconds per gateway phase (default 2, quick 0.5)")
    p.add_argument(
        "--duration", type=float, metavar="S", help="measured seconds per gateway phase (default 8, quick 2)"
    )
    p.add_argument("--litellm-venv", type=Path, metavar="DIR", default=procs.ROOT / ".venv-bench",
                   help="the venv LiteLLM is installed in (default: .venv-bench)")  # fmt: skip
    p.add_argument("--install-litellm", action="store_true",
                   help=f"first create that venv and install LiteLLM into it: {targets.LITELLM_INSTALL}")  # fmt: skip
    p.add_argument("--chunk-gap-ms", type=float, default=1.0, metavar="MS",
                   help="gap between the chunks of a stream_spaced response (default 1)")  # fmt: skip
    p.add_argument("--quiet-wait-s", type=float, metavar="S", default=60.0,
                   help="wait up to this many seconds for other processes to go quiet (default 60)")  # fmt: skip
    p.add_argument("--source-ref", metavar="REF",
                   help="measure blacksoil as committed at this git ref (e.g. HEAD), not the working tree")  # fmt: skip
    p.add_argument(
        "--out", type=Path, metavar="FILE", help="JSON output (default: benchmarks/results/gateway_overhead.json)"
    )
    args = p.parse_args(argv)
    args.command = ".venv/bin/python " + shlex.join(["benchmarks/gateway_overhead.py", *(argv or sys.argv[1:])])
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    args.duration = args.duration if args.duration is not None else (2.0 if args.quick else 8.0)
    args.direct_warmup, args.direct_duration = (0.5, 1.5) if args.quick else (1.0, 4.0)
    cores = procs.cores()
    args.machine = procs.machine(len(cores))
    args.cores = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    args.out = args.out or RESULTS / "gateway_overhead.json"
    return args


def install_litellm(venv: Path) -> None:
    log(f"installing LiteLLM into {venv}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]==1.106.*", "uvloop"]
    subprocess.run(pip, check=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.install_litellm:
        install_litellm(args.litellm_venv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.cores[0] is None:
        log("fewer than 2 usable cores: nothing is pinned, and the figures mix gateway and client CPU")
    started = time.monotonic()
    with procs.bench_lock(), tempfile.TemporaryDirectory(prefix="blacksoil-bench-") as tmp:
        log(f"holding {procs.LOCK_PATH}")
        try:
            result = uvloop.run(benchmark(args, Path(tmp)))
        except (KeyboardInterrupt, asyncio.CancelledError):
            log("interrupted; the servers were stopped")
            raise SystemExit(130) from None
    result["settings"] = {
        "concurrency": args.concurrency, "warmup_s": args.warmup, "duration_s": args.duration,
        "direct_warmup_s": args.direct_warmup, "direct_duration_s": args.direct_duration,
        "gateway_core": args.cores[0], "client_core": args.cores[1], "stream_chunks": STREAM_CHUNKS,
        "chunk_gap_ms": args.chunk_gap_ms,
        "wall_s": round(time.monotonic() - started, 1),
    }  # fmt: skip
    text = json.dumps(result, indent=2)
    tmp_out = args.out.with_suffix(".tmp")
    tmp_out.write_text(text + "\n")
    tmp_out.replace(args.out)
    print(text)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
