"""Benchmark placement speed: the default openb pod list placed once on the 1,213-node cluster.

For each policy, the 8,152 pods of ``openb_pod_list_default.csv`` (shuffled per seed, not
inflated) are placed one by one on the 1,213 GPU nodes; a pod that fits nowhere is dropped. The
wall time includes the simulation's bookkeeping after each pod (allocated GPU, and the
cluster's fragmentation at three checkpoints), so it is an upper bound on the policies' own time.
Reported: median seconds over 3 seeds and placements per second. Goal: FGD under 5 s.

    .venv/bin/python benchmarks/scheduler_speed.py      # about a minute

Prints JSON and writes benchmarks/results/scheduler_speed.json; a Markdown table on stderr.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import procs
from blacksoil.scheduler.placement import NAMES
from blacksoil.scheduler.sim.inflation import run
from blacksoil.scheduler.traces import load_nodes, load_pods

DATA = procs.ROOT.parent / "shared" / "data" / "traces" / "openb-v2023"
RESULTS = procs.ROOT / "benchmarks" / "results" / "scheduler_speed.json"
SEEDS = (42, 43, 44)


def main() -> None:
    if not DATA.exists():
        sys.exit(f"no openb traces at {DATA} (see ../shared/data/README.md)")
    nodes = load_nodes(DATA / "openb_node_list_gpu_node.csv")
    pods = load_pods(DATA / "openb_pod_list_default.csv")
    result: dict[str, Any] = {"machine": procs.machine(), "nodes": len(nodes), "pods": len(pods), "policies": {}}
    with procs.bench_lock():
        for policy in NAMES:
            seconds = []
            for seed in SEEDS:
                started = time.perf_counter()
                run(nodes, pods, policy, seed, factor=0.0)  # factor 0: the list as it is, not inflated
                seconds.append(time.perf_counter() - started)
            median = statistics.median(seconds)
            result["policies"][policy] = {"seconds": round(median, 3), "placements_per_s": round(len(pods) / median)}
            print(f"{policy}: {median:.2f} s", file=sys.stderr, flush=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    lines = ["", "| policy | seconds for 8,152 pods | placements/s |", "|---|---|---|"]
    lines += [f"| {p} | {r['seconds']} | {r['placements_per_s']:,} |" for p, r in result["policies"].items()]
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
