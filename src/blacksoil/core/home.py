"""Where an instance keeps its state: one directory, so two instances never collide.

The directory is ``$BLACKSOIL_HOME`` when set, otherwise ``~/.blacksoil``. Planes ask for a
subdirectory by name (``home.sub("models")``) and never write anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "BLACKSOIL_HOME"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None) -> Home:
        env = os.environ if environ is None else environ
        raw = env.get(HOME_ENV)
        root = Path(raw).expanduser() if raw else Path.home() / ".blacksoil"
        return cls(root.resolve())

    def sub(self, name: str) -> Path:
        """Create (if needed) and return ``<home>/<name>``."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path
