"""Each package's ``__all__`` names what is public, and every name in it exists."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGES = ["blacksoil", "blacksoil.core", "blacksoil.tokens", "blacksoil.tokens.backends", "blacksoil.tokens.policies"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, f"{name} declares no public names"
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ lists missing names: {missing}"


def test_core_imports_nothing_of_the_planes() -> None:
    """Dependencies point down: blacksoil.core must not import a plane."""
    core = Path(importlib.import_module("blacksoil.core").__file__ or "").parent
    offenders = []
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("blacksoil.") and not module.startswith("blacksoil.core"):
                offenders.append(f"{path.name}: {module}")
    assert not offenders, offenders
