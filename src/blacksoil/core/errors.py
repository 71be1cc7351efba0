"""The project's error root.

Every error a plane raises on purpose derives from :class:`BlacksoilError`, so a caller can catch
the whole project with one ``except`` and the HTTP layer can turn any of them into OpenAI's error
shape without a table of special cases::

    BlacksoilError                      500 server_error (only for our own bugs)
    ├── ConfigError                     the config file or environment is wrong
    ├── InvalidRequestError             400 invalid_request_error: the caller's input is wrong
    │   └── NotFoundError               404 not_found_error
    ├── ServiceUnavailableError         503 the service cannot serve now (starting, overloaded)
    └── (each plane's own root, e.g. tokens.errors.TokensError, subclasses one of these)

Each error carries its HTTP ``status``, OpenAI's ``type`` string and an optional machine ``code``
and ``param``, so the API layer is one small function (``blacksoil.core.http``).
"""

from __future__ import annotations


class BlacksoilError(Exception):
    """Root of every error blacksoil raises on purpose."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param

    def to_dict(self) -> dict[str, object]:
        """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class ConfigError(BlacksoilError):
    """The configuration (file or environment) is invalid; the message names the key."""

    type = "config_error"


class InvalidRequestError(BlacksoilError):
    """The caller sent something wrong: the message says what, ``param`` says where."""

    status = 400
    type = "invalid_request_error"


class NotFoundError(InvalidRequestError):
    status = 404
    type = "not_found_error"


class ServiceUnavailableError(BlacksoilError):
    status = 503
    type = "service_unavailable"
