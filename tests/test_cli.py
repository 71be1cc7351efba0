from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from blacksoil import __version__
from blacksoil.cli import app

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("up", "serve", "models", "version"):
        assert command in result.output
    serve_help = runner.invoke(app, ["serve", "--help"])
    assert "--host" in serve_help.output
    assert "--config" in serve_help.output


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_models_from_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[tokens.models]]\nname = "big"\n[[tokens.models.replicas]]\nengine = "upstream"\n'
        'base_url = "http://127.0.0.1:9/v1"\nname = "gpu-a"\n'
    )
    result = runner.invoke(app, ["models", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows == [{"model": "big", "replica": "gpu-a", "engine": "upstream", "target": "http://127.0.0.1:9/v1"}]


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[tokens]\nbalancer = 3\nspeed = 1\n")
    result = runner.invoke(app, ["models", "--config", str(path)])
    assert result.exit_code == 2
    assert "tokens.speed" in result.output


def test_serve_unknown_plane() -> None:
    result = runner.invoke(app, ["serve", "teleport"])
    assert result.exit_code == 2
    assert "tokens" in result.output
