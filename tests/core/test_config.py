from __future__ import annotations

from pathlib import Path

import pytest

from blacksoil.config import load_config
from blacksoil.core.config import env_overrides
from blacksoil.core.errors import ConfigError
from blacksoil.core.home import Home
from blacksoil.tokens.config import EmbeddedReplicaConfig, UpstreamReplicaConfig


def test_defaults_serve_the_embedded_model() -> None:
    cfg = load_config(None, {})
    assert cfg.server.host == "127.0.0.1"
    assert [m.name for m in cfg.tokens.models] == ["gemma-3-270m"]
    assert isinstance(cfg.tokens.models[0].replicas[0], EmbeddedReplicaConfig)


def test_toml_and_yaml_files(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(
        '[server]\nport = 9001\n[[tokens.models]]\nname = "m"\n'
        '[[tokens.models.replicas]]\nengine = "upstream"\nbase_url = "http://127.0.0.1:1/v1"\n'
    )
    cfg = load_config(toml, {})
    assert cfg.server.port == 9001
    assert isinstance(cfg.tokens.models[0].replicas[0], UpstreamReplicaConfig)
    yaml = tmp_path / "c.yaml"
    yaml.write_text("server:\n  port: 9002\n")
    assert load_config(yaml, {}).server.port == 9002


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert "server.prot" in info.value.message
    assert "unknown key" in info.value.message
    assert str(path) in info.value.message


def test_unknown_nested_key_and_bad_engine(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[tokens.models]]\nname = "m"\n[[tokens.models.replicas]]\nengine = "vllm-magic"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert "embedded" in info.value.message
    assert "upstream" in info.value.message


def test_env_overrides_win_and_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[server]\nport = 9001\n")
    cfg = load_config(path, {"BLACKSOIL__SERVER__PORT": "9100", "BLACKSOIL__TOKENS__KEEPALIVE_S": "2.5"})
    assert cfg.server.port == 9100
    assert cfg.tokens.keepalive_s == 2.5


def test_env_override_with_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"BLACKSOIL__SERVER__COLOUR": "blue"})
    assert "server.colour" in info.value.message


def test_bad_value_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_config(None, {"BLACKSOIL__SERVER__PORT": "99999"})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(ConfigError, match="does not parse"):
        load_config(broken, {})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", {})
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(ConfigError, match=r"\.toml, \.yaml"):
        load_config(tmp_path / "c.ini", {})


def test_duplicate_model_names_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    one = '[[tokens.models]]\nname = "m"\n[[tokens.models.replicas]]\nengine = "embedded"\n'
    path.write_text(one + one)
    with pytest.raises(ConfigError, match="repeated: m"):
        load_config(path, {})


def test_env_tree_and_home(tmp_path: Path) -> None:
    assert env_overrides({"BLACKSOIL__A__B": "[1, 2]", "OTHER": "x"}) == {"a": {"b": [1, 2]}}
    with pytest.raises(ConfigError):
        env_overrides({"BLACKSOIL__A____B": "1"})
    home = Home.resolve({"BLACKSOIL_HOME": str(tmp_path / "h")})
    assert home.root == (tmp_path / "h").resolve()
    assert home.sub("models").is_dir()
    assert Home.resolve({}).root == (Path.home() / ".blacksoil").resolve()
