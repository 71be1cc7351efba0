"""blacksoil: open Agentic Infra.

Each plane is a subpackage that works as a library on its own (``blacksoil.tokens`` …);
``blacksoil.server`` composes their HTTP routers into one app and ``blacksoil.cli`` is the command.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("blacksoil")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
