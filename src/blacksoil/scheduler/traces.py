"""Readers for the Alibaba GPU-sharing traces (openb, cluster-trace-gpu-v2023): nodes and pods."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path

from blacksoil.scheduler.errors import TraceError
from blacksoil.scheduler.types import MILLI, NodeSpec, Task


def load_nodes(path: Path) -> list[NodeSpec]:
    """``sn, cpu_milli, memory_mib, gpu, model`` per line."""
    rows = _rows(path, ("sn", "cpu_milli", "memory_mib", "gpu"))
    nodes = []
    for line, r in enumerate(rows, 2):
        with _row_errors(path, line):
            model = (r.get("model") or "").strip()
            nodes.append(NodeSpec(r["sn"], int(r["cpu_milli"]), int(r["memory_mib"]), int(r["gpu"]), model))
    return nodes


def load_pods(path: Path) -> list[Task]:
    """``name, cpu_milli, memory_mib, num_gpu, gpu_milli[, gpu_spec, …]`` per line.

    A whole-GPU pod lists ``gpu_milli`` 1000; ``gpu_spec`` is ``A|B`` (the models it accepts) or empty.
    """
    rows = _rows(path, ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"))
    tasks = []
    for line, r in enumerate(rows, 2):
        with _row_errors(path, line):
            tasks.append(_task(path, r))
    return tasks


def _task(path: Path, r: dict[str, str]) -> Task:
    num_gpu, gpu_milli = int(r["num_gpu"]), int(r["gpu_milli"])
    if num_gpu > 1 and gpu_milli != MILLI:
        raise TraceError(f"{path}: pod {r['name']} asks for {num_gpu} GPUs of {gpu_milli} milli each")
    spec = (r.get("gpu_spec") or "").strip()
    models = frozenset(m for m in spec.split("|") if m) if spec else frozenset()
    milli = gpu_milli if num_gpu else 0
    return Task(int(r["cpu_milli"]), int(r["memory_mib"]), num_gpu, milli, models, r["name"])


@contextlib.contextmanager
def _row_errors(path: Path, line: int) -> Iterator[None]:
    """A value that is not a number, or a row too short, becomes a TraceError naming the line."""
    try:
        yield
    except (ValueError, TypeError, KeyError) as exc:
        raise TraceError(f"{path}:{line}: {exc}") from None


def _rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise TraceError(f"{path}: cannot read ({exc})") from None
    if not rows or any(col not in rows[0] for col in required):
        raise TraceError(f"{path}: expected columns {', '.join(required)}")
    return rows
