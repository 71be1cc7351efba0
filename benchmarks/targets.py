"""The servers under test: the mock upstream, the blacksoil token gateway and LiteLLM's proxy.

Each ``start_*`` returns a started, ready :class:`procs.Server` pinned to the given core, or raises
``RuntimeError`` saying why it could not start. A gateway serves one model, ``mock``, from one of the
mock's paths (``base``): ``/v1`` (streams written all at once) or ``/spaced/v1`` (stream chunks spaced).
"""

from __future__ import annotations

import sys
from pathlib import Path

import procs

LITELLM_KEY = "sk-bench-master-key"
LITELLM_VERSIONS = ("litellm", "uvicorn", "fastapi", "starlette", "httpx", "openai", "aiohttp", "uvloop", "orjson")
LITELLM_INSTALL = "python -m venv .venv-bench && .venv-bench/bin/pip install 'litellm[proxy]==1.106.*' uvloop"

_BLACKSOIL_TOML = """\
[server]
log_level = "warning"

[[tokens.models]]
name = "mock"

[[tokens.models.replicas]]
engine = "upstream"
base_url = "http://127.0.0.1:{mock_port}{base}"
"""

# Everything LiteLLM can be told to skip: no database, no spend or error logs, no callbacks, no
# message logging. LITELLM_LOCAL_MODEL_COST_MAP (set in the environment) keeps it off the internet.
_LITELLM_YAML = """\
model_list:
  - model_name: mock
    litellm_params:
      model: openai/mock
      api_base: http://127.0.0.1:{mock_port}{base}
      api_key: sk-mock
litellm_settings:
  drop_params: true
  turn_off_message_logging: true
  set_verbose: false
  json_logs: false
  callbacks: []
  success_callback: []
  failure_callback: []
general_settings:
  master_key: {key}
  disable_spend_logs: true
  disable_error_logs: true
  disable_reset_budget: true
  disable_adding_master_key_hash_to_db: true
"""


def start_mock(port: int, core: int | None, workdir: Path, chunk_gap_ms: float = 1.0) -> procs.Server:
    argv = [sys.executable, str(procs.ROOT / "benchmarks" / "mock_upstream.py"), "--port", str(port),
            "--chunk-gap-ms", str(chunk_gap_ms)]  # fmt: skip
    server = procs.Server("mock upstream", argv, core, workdir / "mock.log", procs.local_env())
    procs.wait_ready(server, port, "/v1/models", timeout_s=15)
    return server


def blacksoil_command(config: Path, port: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "blacksoil"),
        "serve",
        "tokens",
        "--config",
        str(config),
        "--port",
        str(port),
    ]


def start_blacksoil(
    port: int, mock_port: int, core: int | None, workdir: Path, source: Path | None = None, base: str = "/v1"
) -> procs.Server:
    """``source``: a directory holding a blacksoil package to run instead of the installed one."""
    config = workdir / "blacksoil.toml"
    config.write_text(_BLACKSOIL_TOML.format(mock_port=mock_port, base=base))
    env = procs.local_env(BLACKSOIL_HOME=str(workdir / "blacksoil-home"))
    if source is not None:
        env["PYTHONPATH"] = str(source)  # ahead of the editable install's path entry
    server = procs.Server("blacksoil", blacksoil_command(config, port), core, workdir / "blacksoil.log", env)
    try:
        procs.wait_ready(server, port, "/readyz", timeout_s=60)
    except RuntimeError:
        server.stop()
        raise
    return server


def litellm_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def start_litellm(
    port: int, mock_port: int, core: int | None, workdir: Path, venv: Path, base: str = "/v1"
) -> procs.Server:
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        raise RuntimeError(f"LiteLLM is not installed: no {exe}. Install it with: {LITELLM_INSTALL}")
    config = workdir / "litellm.yaml"
    config.write_text(_LITELLM_YAML.format(mock_port=mock_port, base=base, key=LITELLM_KEY))
    env = procs.local_env(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOG="ERROR",
        LITELLM_TELEMETRY="False",
        LITELLM_MODE="PRODUCTION",
        DISABLE_ADMIN_UI="True",
    )
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(var, None)
    argv = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    server = procs.Server("litellm", argv, core, workdir / "litellm.log", env)
    try:
        procs.wait_ready(server, port, "/health/liveliness", timeout_s=120)
        # Liveliness answers before the router is loaded; wait until the model is listed.
        procs.wait_ready(server, port, "/v1/models", timeout_s=60, headers={"Authorization": f"Bearer {LITELLM_KEY}"})
    except RuntimeError:
        server.stop()
        raise
    return server
