"""Where the blacksoil token gateway's CPU goes under load: py-spy, against the mock upstream.

Same setup and modes as gateway_overhead.py (non-streaming, streamed all at once, streamed with spaced
chunks; gateway on core 0; mock, load generator and py-spy on core 1; the bench flock held). For each
mode it records twice: Python frames only, and with native frames
(``--native``, which shows syscalls such as ``write`` and C code such as the garbage collector).
Throughput while profiled is lower than in the benchmark (py-spy pauses the process to sample).

Writes the raw collapsed stacks to benchmarks/results/profile-blacksoil-<mode>-c<N>[-native].txt
(open them in speedscope, or summarise with pyspy_summary.py) and a summary to
benchmarks/results/gateway_profile.json, which it also prints.

  .venv/bin/pip install py-spy
  .venv/bin/python benchmarks/gateway_profile.py [--concurrency 16] [--duration 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvloop

import loadgen
import procs
import pyspy_summary
import targets
from gateway_overhead import MODES, RESULTS, UPSTREAMS, log, request_bytes


async def _record(
    args: argparse.Namespace,
    spy: Path,
    taskset: list[str],
    spies: list[subprocess.Popen[bytes]],
    pid: int,
    port: int,
    mode: str,
    native: bool,
) -> dict[str, Any]:
    """Drive ``mode`` at the set concurrency while py-spy records the gateway; summarise the profile."""
    c, stream = args.concurrency, MODES[mode]
    path = RESULTS / f"profile-blacksoil-{mode}-c{c}{'-native' if native else ''}.txt"
    cmd = [*taskset, str(spy), "record", "--pid", str(pid), "--duration", str(args.duration),
           "--rate", str(args.rate), "--format", "raw", "--nolineno", "--output", str(path)]  # fmt: skip
    if native:
        cmd.append("--native")

    def start_spy() -> None:
        spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))

    log(f"profiling {mode} c={c} ({'native' if native else 'Python'} frames) -> {path.name}")
    res = await loadgen.run_phase("127.0.0.1", port, request_bytes(port, mode), concurrency=c, warmup_s=2.0,
                                  duration_s=args.duration + 1.0, stream=stream, on_window_start=start_spy)  # fmt: skip
    _, err = await asyncio.to_thread(spies[-1].communicate, None, 30)
    if spies[-1].returncode:
        raise SystemExit(f"py-spy failed: {err.decode(errors='replace')}")
    return {
        "file": str(path.relative_to(procs.ROOT)),
        "rps_while_profiled": res.summary(stream)["rps"],
        **pyspy_summary.summarise(path, top=args.top),
    }


async def profile(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        raise SystemExit(f"py-spy not found at {spy}; install it with: .venv/bin/pip install py-spy")
    procs.cancel_on_sigterm()
    cores = procs.cores()
    gw_core, client_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    machine = {**procs.machine(len(cores)), "blacksoil_source": procs.source_state()}
    procs.pin(client_core)
    mock_port = procs.free_port()
    mock = targets.start_mock(mock_port, client_core, workdir)
    source = None
    if args.source_ref:
        machine["blacksoil_source"] = procs.export_source(args.source_ref, workdir / "source")
        source = workdir / "source" / "src"
    out: dict[str, Any] = {"benchmark": "gateway_profile", "command": args.command, "machine": machine}
    taskset = ["taskset", "-c", str(client_core)] if client_core is not None else []
    spies: list[subprocess.Popen[bytes]] = []
    try:
        for base, modes in UPSTREAMS.items():
            port = procs.free_port()
            server = targets.start_blacksoil(port, mock_port, gw_core, workdir, source, base)
            try:
                for mode in modes:
                    for native in (False, True):
                        out.setdefault(mode, {})["native" if native else "python"] = await _record(
                            args, spy, taskset, spies, server.pid, port, mode, native
                        )
            finally:
                server.stop()
    finally:
        mock.stop()
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", type=int, default=16, help="connections (default 16)")
    p.add_argument("--duration", type=int, default=8, help="seconds recorded per profile (default 8)")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second (default 250)")
    p.add_argument("--source-ref", metavar="REF", help="profile blacksoil as committed at this git ref")
    p.add_argument("--top", type=int, default=15, help="rows per view in the summary (default 15)")
    args = p.parse_args(argv)
    args.command = ".venv/bin/python " + shlex.join(["benchmarks/gateway_profile.py", *(argv or sys.argv[1:])])
    RESULTS.mkdir(parents=True, exist_ok=True)
    with procs.bench_lock(), tempfile.TemporaryDirectory(prefix="blacksoil-profile-") as tmp:
        log(f"holding {procs.LOCK_PATH}")
        try:
            result = uvloop.run(profile(args, Path(tmp)))
        except (KeyboardInterrupt, asyncio.CancelledError):
            log("interrupted; the servers were stopped")
            raise SystemExit(130) from None
    text = json.dumps(result, indent=2)
    (RESULTS / "gateway_profile.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
