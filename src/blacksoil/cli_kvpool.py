"""``blacksoil kvpool``: look at a running instance's KV pool."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from blacksoil.cli_support import fail
from blacksoil.core.errors import BlacksoilError
from blacksoil.kvpool.client import KVPoolClient

kvpool_app = typer.Typer(help="Look at the KV pool of a running instance.")


@kvpool_app.command()
def stats(
    url: Annotated[str, typer.Option(help="The instance's base URL.")] = "http://127.0.0.1:8400",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Each tier's capacity, fill, lookups, hit rate, evictions and corrupt blocks."""
    try:
        view = asyncio.run(KVPoolClient(url).describe())
    except BlacksoilError as exc:
        fail(f"{url}: {exc.message}")
    except OSError as exc:
        fail(f"{url}: cannot reach the instance ({exc}); is `blacksoil up` running there?")
    if as_json:
        sys.stdout.write(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    title = f"block {view['block_tokens']} tokens, eviction {view['eviction']}"
    table = Table("tier", "kind", "shared", "used / capacity", "blocks", "lookups", "hit rate", "evictions",
                  "corrupt", title=title)  # fmt: skip
    for t in view["tiers"]:
        table.add_row(
            str(t["tier"]), str(t["kind"]), "yes" if t["shared"] else "no", _fill(t), str(t["blocks"]),
            str(t["lookups"]), f"{t['hit_rate']:.1%}", str(t["evictions"]), str(t["corrupt"]),
        )  # fmt: skip
    Console().print(table)


def _fill(tier: dict[str, Any]) -> str:
    used, capacity = tier["used_bytes"] / 2**20, tier["capacity_bytes"] / 2**20
    return f"{used:,.1f} / {capacity:,.0f} MiB" if capacity else f"{used:,.1f} MiB (server-bounded)"
