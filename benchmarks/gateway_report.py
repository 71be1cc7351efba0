"""Render gateway_overhead.json as the Markdown tables of docs/benchmarks.md (prints them): the goals, every
condition in full, and the streamed conditions' CPU per chunk and HTTP chunks (writes) per response.

.venv/bin/python benchmarks/gateway_report.py [benchmarks/results/gateway_overhead.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

TIMES = "\N{MULTIPLICATION SIGN}"
SHOWN = {"blacksoil": "blacksoil", "litellm": "LiteLLM"}
DEFAULT = Path(__file__).resolve().parent / "results" / "gateway_overhead.json"
MODE_NAMES = {
    "nonstream": "non-streaming",
    "stream": "streaming, 20 chunks at once",
    "stream_spaced": "streaming, spaced",
}


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    digits = 3 if abs(v) < 0.1 else 2 if abs(v) < 10 else 1 if abs(v) < 100 else 0
    return f"{v:,.{digits}f} ms"


def _us(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f} µs" if v >= 10 else f"{v:.1f} µs"


def _get(d: dict[str, Any] | None, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def summary(data: dict[str, Any]) -> list[str]:
    gws = data["gateways"]
    bs, ll = _get(gws, "blacksoil", "derived"), _get(gws, "litellm", "derived")
    rows = ["| figure | mode | blacksoil | LiteLLM | goal | blacksoil meets it |", "|---|---|---:|---:|---|---|"]
    met = {(g["goal"].split(" ")[0], g["mode"]): g for g in data.get("goals", [])}

    def line(name: str, mode: str, b: str, lv: str, goal_key: str | None) -> None:
        g = met.get((goal_key, mode)) if goal_key else None
        goal = g["target"].replace(">=", "≥").replace("<=", "≤").replace("x", TIMES) if g else ""
        verdict = "" if not g or g["met"] is None else "yes" if g["met"] else "**no**"
        if g and goal_key == "max_rps_vs_litellm":
            goal, verdict = f"{goal} LiteLLM", f"{verdict} ({g['ratio']}{TIMES})" if g["ratio"] else "no LiteLLM figure"
        rows.append(f"| {name} | {MODE_NAMES[mode]} | {b} | {lv} | {goal} | {verdict} |")

    for mode in MODE_NAMES:
        if mode not in (bs or {}):
            continue
        for q in ("p50", "p99"):
            line(f"added latency {q}, concurrency 1", mode, _ms(_get(bs, mode, "c1", "added_latency_ms", q)),
                 _ms(_get(ll, mode, "c1", "added_latency_ms", q)), f"added_{q}_ms_c1")  # fmt: skip
        if mode != "nonstream":
            for q in ("p50", "p99"):
                line(f"added time to first byte {q}, concurrency 1", mode,
                     _ms(_get(bs, mode, "c1", "added_ttfb_ms", q)), _ms(_get(ll, mode, "c1", "added_ttfb_ms", q)),
                     "added_ttfb_p50_ms_c1" if q == "p50" else None)  # fmt: skip
        b, lv = _get(bs, mode, "max_rps"), _get(ll, mode, "max_rps")
        line("max requests/s (one core)", mode, f"{b:,.0f}" if b else "-", f"{lv:,.0f}" if lv else "-",
             "max_rps_vs_litellm")  # fmt: skip
        line("gateway CPU per request, at max requests/s", mode, _ms(_get(bs, mode, "cpu_ms_per_request_at_max_rps")),
             _ms(_get(ll, mode, "cpu_ms_per_request_at_max_rps")), None)  # fmt: skip
        if mode != "nonstream":
            for c in data["settings"]["concurrency"]:
                key = (f"c{c}", "gateway_cpu_us_per_chunk")
                line(f"gateway CPU per chunk, concurrency {c}", mode, _us(_get(bs, mode, *key)),
                     _us(_get(ll, mode, *key)), None)  # fmt: skip
    rss = [max((r.get("gateway_rss_mb") or 0 for by_c in (_get(gws, n, "conditions") or {}).values()
                for r in by_c.values()), default=0) for n in ("blacksoil", "litellm")]  # fmt: skip
    rows.append(f"| resident memory, largest at the end of a phase | | {rss[0]:.0f} MB | {rss[1]:.0f} MB | | |")
    for name in ("blacksoil", "litellm"):
        gw = gws.get(name, {})
        if gw.get("status") != "ok":
            rows.append(f"\n{name} did not run: {gw.get('reason', 'not requested')}")
    return rows


def detail(data: dict[str, Any]) -> list[str]:
    gws = data["gateways"]
    names = [n for n in ("blacksoil", "litellm") if gws.get(n, {}).get("status") == "ok"]
    head = "| mode | conc. | direct p50 / p99 | " + " | ".join(
        f"{SHOWN[n]} p50 / p99 | {SHOWN[n]} req/s | {SHOWN[n]} CPU/req" for n in names
    )
    rows = [head + " |", "|---|---:|---:|" + "---:|---:|---:|" * len(names)]
    for mode, by_c in data["direct"].items():
        for key, d in by_c.items():
            cells = [MODE_NAMES[mode], key[1:], f"{_ms(d['latency_ms']['p50'])} / {_ms(d['latency_ms']['p99'])}"]
            for n in names:
                g = gws[n]["conditions"][mode][key]
                cells += [f"{_ms(g['latency_ms']['p50'])} / {_ms(g['latency_ms']['p99'])}", f"{g['rps']:,.0f}",
                          _ms(g.get("gateway_cpu_ms_per_request"))]  # fmt: skip
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def streams(data: dict[str, Any]) -> list[str]:
    """Streamed conditions: the gateways' CPU per chunk, how busy their core was, HTTP chunks per response."""
    gws = data["gateways"]
    names = [n for n in ("blacksoil", "litellm") if gws.get(n, {}).get("status") == "ok"]
    head = "| mode | conc. | direct req/s | " + " | ".join(
        f"{SHOWN[n]} CPU/chunk | {SHOWN[n]} core busy | {SHOWN[n]} HTTP chunks/resp." for n in names
    )
    rows = [head + " |", "|---|---:|---:|" + "---:|---:|---:|" * len(names)]
    for mode, by_c in data["direct"].items():
        if mode == "nonstream":
            continue
        for key, d in by_c.items():
            cells = [MODE_NAMES[mode], key[1:], f"{d['rps']:,.0f}"]
            for n in names:
                g = gws[n]["conditions"][mode][key]
                cells += [_us(g.get("gateway_cpu_us_per_chunk")), f"{g.get('gateway_core_busy', 0):.0%}",
                          str(g.get("http_chunks_per_response", "-"))]  # fmt: skip
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT)
    data = json.loads(parser.parse_args().results.read_text())
    gap = data["settings"].get("chunk_gap_ms")
    if gap is not None:
        MODE_NAMES["stream_spaced"] = f"streaming, 20 chunks {gap:g} ms apart"
    print("\n\n".join("\n".join(t) for t in (summary(data), detail(data), streams(data))))


if __name__ == "__main__":
    main()
