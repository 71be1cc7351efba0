"""The whole instance's settings: the server, then one section per plane.

Loaded from one TOML or YAML file (``--config``) plus ``BLACKSOIL__SECTION__KEY`` environment
overrides; see ``blacksoil.core.config``. Unknown keys are errors that name the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field

from blacksoil.core import config as loader
from blacksoil.core.config import StrictModel
from blacksoil.kvpool.config import KVPoolConfig
from blacksoil.tokens.config import TokensConfig

DEFAULT_PORT = 8400


class ServerConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Interface to listen on; 127.0.0.1 keeps it private.")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = False


class BlacksoilConfig(StrictModel):
    server: ServerConfig = Field(default_factory=ServerConfig)
    tokens: TokensConfig = Field(default_factory=TokensConfig)
    kvpool: KVPoolConfig = Field(default_factory=KVPoolConfig)


def load_config(path: Path | None, environ: Mapping[str, str]) -> BlacksoilConfig:
    return loader.load(BlacksoilConfig, path, environ)
