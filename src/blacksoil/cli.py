"""The ``blacksoil`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from blacksoil import __version__
from blacksoil.cli_kvpool import kvpool_app
from blacksoil.cli_router import router_app
from blacksoil.cli_support import console, fail, load
from blacksoil.config import BlacksoilConfig
from blacksoil.core.errors import BlacksoilError
from blacksoil.core.home import HOME_ENV, Home
from blacksoil.core.runtime import tune_gc
from blacksoil.server import PLANES, build_app

app = typer.Typer(
    name="blacksoil",
    help="Open Agentic Infra: serve models, memory, sandboxes and more from one process.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
app.add_typer(router_app, name="router")
app.add_typer(kvpool_app, name="kvpool")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="A TOML or YAML config file. Env overrides: BLACKSOIL__SECTION__KEY=value."),
]
HostOpt = Annotated[str | None, typer.Option("--host", help="Interface to listen on [default: 127.0.0.1].")]
PortOpt = Annotated[int | None, typer.Option("--port", "-p", help="Port to listen on [default: 8400].")]


@app.command()
def up(config: ConfigOpt = None, host: HostOpt = None, port: PortOpt = None) -> None:
    """Start every plane in one process, with embedded defaults (no external services)."""
    _serve(PLANES, config, host, port)


@app.command()
def serve(
    plane: Annotated[str, typer.Argument(help=f"The plane to serve: {', '.join(PLANES)}.")],
    config: ConfigOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
) -> None:
    """Serve one plane on its own (to run planes as separate processes or machines)."""
    if plane not in PLANES:
        fail(f"unknown plane '{plane}'; valid: {', '.join(PLANES)}")
    _serve((plane,), config, host, port)


@app.command()
def models(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the models the configuration serves, with their replicas."""
    cfg = load(config)
    rows = []
    for model in cfg.tokens.models:
        for i, replica in enumerate(model.replicas):
            where = str(getattr(replica, "base_url", "")) or (getattr(replica, "model_path", None) or "Gemma 3 270M")
            rows.append({"model": model.name, "replica": replica.name or f"{model.name}/{i}",
                         "engine": replica.engine, "target": where})  # fmt: skip
    if as_json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    table = Table("model", "replica", "engine", "target")
    for row in rows:
        table.add_row(*row.values())
    Console().print(table)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"blacksoil {__version__}")


def _serve(planes: tuple[str, ...], config_path: Path | None, host: str | None, port: int | None) -> None:
    cfg = load(config_path)
    if host is not None:
        cfg.server.host = host
    if port is not None:
        cfg.server.port = port
    home = Home.resolve()
    console.print(f"[bold]blacksoil {__version__}[/] · state in {home.root} (set {HOME_ENV} to change)")
    try:
        with console.status("preparing planes: " + ", ".join(planes)) as status:
            application = build_app(
                cfg, home, planes, progress=lambda msg: status.update(msg), on_ready=lambda: _banner(cfg)
            )
    except BlacksoilError as exc:
        fail(exc.message)
    console.print("loading models…")
    tune_gc()
    uvicorn.run(
        application,
        host=cfg.server.host,
        port=cfg.server.port,
        log_level=cfg.server.log_level,
        access_log=cfg.server.access_log,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=5,
    )


def _banner(cfg: BlacksoilConfig) -> None:
    base = f"http://{cfg.server.host}:{cfg.server.port}"
    model = cfg.tokens.models[0].name
    console.print(
        f"\n[bold green]ready[/] on {base}  (API docs: {base}/docs, metrics: {base}/metrics)\n\n"
        "Try it:\n"
        f"  curl -s {base}/v1/models\n"
        f"  curl -s {base}/v1/chat/completions -H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"model": "{model}", "messages": [{{"role": "user", "content": "Name three rivers."}}], '
        '"max_tokens": 48}\'\n'
        f'  OPENAI_BASE_URL={base}/v1 OPENAI_API_KEY=unused python -c "import openai; '
        f"print(openai.OpenAI().chat.completions.create(model='{model}', "
        "messages=[{'role': 'user', 'content': 'Hello!'}], max_tokens=32).choices[0].message.content)\"\n",
        highlight=False,
        soft_wrap=True,
    )


def main() -> None:
    app()
