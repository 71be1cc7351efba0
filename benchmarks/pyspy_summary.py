"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the on-CPU samples go.

Three views, each as % of all samples: by function itself (self time, the leaf frame), by function
including what it calls (inclusive), and by package (self time grouped by the top-level module of the
leaf's file). Run alone: ``python benchmarks/pyspy_summary.py profile.txt``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*)\)$")


def _split(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return match["func"], match["file"]


def _package(file: str) -> str:
    parts = file.split("/")
    if file.startswith("<") or not parts[0]:
        return file or "?"
    return parts[0].removesuffix(".py")


def summarise(path: Path, top: int = 15) -> dict[str, object]:
    self_time: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_split(f) for f in stack.split(";")]
        total += count
        self_time[frames[-1]] += count
        packages[_package(frames[-1][1])] += count
        for frame in set(frames):
            inclusive[frame] += count

    def rows(counter: Counter[tuple[str, str]]) -> list[dict[str, object]]:
        return [
            {"function": func, "file": file, "pct": round(100 * n / total, 1), "samples": n}
            for (func, file), n in counter.most_common(top)
        ]

    # Inclusive time of the outermost frames (module, main, the event loop) is ~100% and says nothing.
    useful_inclusive = Counter({k: v for k, v in inclusive.items() if v < 0.95 * total})
    return {
        "samples": total,
        "self": rows(self_time),
        "inclusive": rows(useful_inclusive),
        "by_package": [
            {"package": name, "pct": round(100 * n / total, 1), "samples": n} for name, n in packages.most_common(top)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path, help="a py-spy record --format raw output file")
    parser.add_argument("--top", type=int, default=15, help="rows per view (default: 15)")
    args = parser.parse_args()
    print(json.dumps(summarise(args.profile, args.top), indent=2))


if __name__ == "__main__":
    main()
