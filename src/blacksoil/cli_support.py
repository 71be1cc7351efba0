"""What every ``blacksoil`` verb shares: the status console, config loading, and failing clearly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from blacksoil.config import BlacksoilConfig, load_config
from blacksoil.core.errors import BlacksoilError

console = Console(stderr=True)


def load(path: Path | None) -> BlacksoilConfig:
    """The config from ``path`` and the environment, or exit with the problem."""
    try:
        return load_config(path, os.environ)
    except BlacksoilError as exc:
        fail(exc.message)


def fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)
