"""HTTP helpers shared by every plane's API: JSON bodies, and errors in OpenAI's shape.

Every error response is ``{"error": {"message", "type", "param", "code"}}`` with an honest status:
4xx for what the caller got wrong (with the reason), 5xx only for failures on our side or upstream.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from blacksoil.core.errors import BlacksoilError, InvalidRequestError

log = logging.getLogger("blacksoil.http")

M = TypeVar("M", bound=BaseModel)

_STATUS_TYPES = {404: "not_found_error", 405: "invalid_request_error", 401: "authentication_error"}


class JSONBytesResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(
    status: int, message: str, type_: str, code: str | None = None, param: str | None = None
) -> Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONBytesResponse(body, status_code=status)


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    raw = await request.body()
    if not raw:
        raise InvalidRequestError("The request body is empty; send a JSON object.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return data


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data``; the first problem becomes a 400 naming the parameter."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError | RequestValidationError) -> InvalidRequestError:
    errors = exc.errors()
    first = errors[0]
    loc = [str(p) for p in first["loc"] if p != "body"]
    param = ".".join(loc) or None
    where = f"'{param}'" if param else "the request"
    msg = f"Invalid value for {where}: {first['msg']}"
    if first["type"] == "missing":
        msg = f"Missing required parameter: {where}."
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return InvalidRequestError(msg, param=param, code="invalid_value" if first["type"] != "missing" else "missing")


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to OpenAI's shape; nothing the caller did wrong becomes a 500."""

    async def on_blacksoil(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, BlacksoilError)
        if exc.status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc.message)
        return JSONBytesResponse(exc.to_dict(), status_code=exc.status)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        err = validation_error(exc)
        return JSONBytesResponse(err.to_dict(), status_code=err.status)

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        type_ = _STATUS_TYPES.get(exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error")
        return error_response(exc.status_code, str(exc.detail), type_)

    async def on_gone(_: Request, exc: Exception) -> Response:
        return error_response(499, "The client closed the request.", "client_closed_request")

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, f"Internal error ({type(exc).__name__}); see the server log.", "server_error")

    app.add_exception_handler(BlacksoilError, on_blacksoil)
    app.add_exception_handler(ClientDisconnectedError, on_gone)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


class ClientDisconnectedError(Exception):
    """The client disconnected before its response was ready; the work was cancelled."""


class DisconnectWatch:
    """Cancel the current task when the client disconnects, for as long as the block runs.

    A request handler awaiting a long generation would otherwise keep the engine busy for a client
    that is gone. One watcher task per request; on disconnect the handler's task is cancelled and
    the block raises :class:`ClientDisconnectedError` (nobody is left to read the response)::

        async with DisconnectWatch(request.receive):
            result = await gateway.generate(...)
    """

    def __init__(self, receive: Any) -> None:
        self._receive = receive
        self._task: asyncio.Task[Any] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.gone = False
        self._finished = False

    async def __aenter__(self) -> DisconnectWatch:
        self._task = asyncio.current_task()
        self._watcher = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self._finished = True
        assert self._watcher is not None
        assert self._task is not None
        self._watcher.cancel()
        if self.gone and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            self._task.uncancel()
            raise ClientDisconnectedError("the client disconnected")

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if not self._finished and self._task is not None:
                    self.gone = True
                    self._task.cancel()
                return
