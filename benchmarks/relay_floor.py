"""The floor for relaying a stream on this machine: a bare uvloop TCP relay, no HTTP, no Python per chunk.

It passes bytes between the load generator and the mock upstream (one upstream connection per client
connection), pinned like the gateways in gateway_overhead.py (relay on core 0; mock and load generator
on core 1; the bench flock held). For both stream modes, at concurrency 1, 16 and 64, it reports the
relay's CPU per chunk (its on-CPU time from /proc/<pid>/schedstat) and how often it woke up per chunk
(voluntary context switches). Whatever a gateway spends per chunk beyond this is its own work.

Prints JSON and writes it to benchmarks/results/relay_floor.json.

  .venv/bin/python benchmarks/relay_floor.py            # about 1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvloop

import loadgen
import procs
import targets
from gateway_overhead import RESULTS, STREAM_CHUNKS, log, request_bytes


class _Up(asyncio.Protocol):
    def __init__(self, down: _Down) -> None:
        self.down = down

    def data_received(self, data: bytes) -> None:
        self.down.transport.write(data)


class _Down(asyncio.Protocol):
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.up: asyncio.Transport | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.opening = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self.up, _ = await loop.create_connection(lambda: _Up(self), "127.0.0.1", self.upstream_port)
        for data in self.pending:
            self.up.write(data)

    def data_received(self, data: bytes) -> None:
        if self.up is None:
            self.pending.append(data)
        else:
            self.up.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None:
            self.up.close()


async def _serve(port: int, upstream_port: int) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: _Down(upstream_port), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _sched(pid: int) -> tuple[int, int]:
    """(on-CPU nanoseconds, voluntary context switches) of ``pid``."""
    run_ns = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    status = Path(f"/proc/{pid}/status").read_text()
    return run_ns, int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    procs.cancel_on_sigterm()
    cores = procs.cores()
    relay_core, client_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    procs.pin(client_core)
    mock_port, port = procs.free_port(), procs.free_port()
    mock = targets.start_mock(mock_port, client_core, workdir, args.chunk_gap_ms)
    argv = [sys.executable, __file__, "--serve", str(port), str(mock_port)]
    relay = procs.Server("relay", argv, relay_core, workdir / "relay.log", procs.local_env())
    out: dict[str, Any] = {"benchmark": "relay_floor", "command": args.command, "machine": procs.machine(len(cores))}
    try:
        procs.wait_ready(relay, port, "/v1/models", timeout_s=15)  # answered by the mock, through the relay
        marks: dict[str, tuple[int, int]] = {}
        for mode in ("stream", "stream_spaced"):
            for c in (1, 16, 64):
                marks.clear()
                res = await loadgen.run_phase(
                    "127.0.0.1", port, request_bytes(port, mode, direct=True), concurrency=c, warmup_s=1.0,
                    duration_s=args.duration, stream=True, on_window_start=lambda: marks.update(a=_sched(relay.pid)),
                    on_window_end=lambda: marks.update(b=_sched(relay.pid)),
                )  # fmt: skip
                chunks = max(1, res.completed_in_window) * STREAM_CHUNKS
                row = {
                    **res.summary(True),
                    "relay_cpu_us_per_chunk": round((marks["b"][0] - marks["a"][0]) / 1e3 / chunks, 1),
                    "relay_wakeups_per_chunk": round((marks["b"][1] - marks["a"][1]) / chunks, 2),
                }
                log(f"  {mode:13} c={c:<3} {row['rps']:>9} req/s  {row['relay_cpu_us_per_chunk']} µs per chunk")
                out.setdefault(mode, {})[f"c{c}"] = row
    finally:
        relay.stop()
        mock.stop()
    out["settings"] = {"duration_s": args.duration, "chunk_gap_ms": args.chunk_gap_ms, "stream_chunks": STREAM_CHUNKS}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=6.0, help="measured seconds per phase (default 6)")
    p.add_argument("--chunk-gap-ms", type=float, default=1.0, help="gap between spaced chunks (default 1)")
    p.add_argument("--serve", nargs=2, type=int, metavar=("PORT", "UPSTREAM_PORT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        signal.signal(signal.SIGINT, lambda *_: os._exit(0))
        uvloop.run(_serve(*args.serve))
        return
    args.command = ".venv/bin/python " + " ".join(["benchmarks/relay_floor.py", *sys.argv[1:]])
    with procs.bench_lock(), tempfile.TemporaryDirectory(prefix="blacksoil-relay-") as tmp:
        result = uvloop.run(measure(args, Path(tmp)))
    text = json.dumps(result, indent=2)
    (RESULTS / "relay_floor.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
