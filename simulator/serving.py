"""The stand-ins' HTTP on aiohttp's server: JSON errors on every path, JSON bodies, one app on one port.

Every stand-in (the control port, the answer ports, the model servers) answers errors as ``{"error": message,
...}``, because the activities and the tests read that shape; aiohttp's own error pages (no route, wrong method,
body too large, a bug in a handler) are plain text, so one middleware turns them into the same JSON.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

_LOG = logging.getLogger(__name__)

_MAX_BODY = 8 * 1024 * 1024
"""aiohttp's default is 1 MiB; replayed shadow requests may be larger."""

_SHUTDOWN_S = 1.0
"""How long answers in flight may finish on shutdown: a handler sleeping in an injected delay (up to minutes)
must not hold the process past its stopper's grace period."""

_BACKLOG = 1024
"""Load tests open hundreds of connections at once; aiohttp's default of 128 would drop some SYNs."""


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    """The JSON error shape used everywhere: ``{"error": message, ...}``."""
    return web.json_response({"error": message, **extra}, status=status)


def model_response(model: BaseModel) -> web.Response:
    """A pydantic model in its own JSON serialisation (``Counters`` writes its infinite bucket bound as "+Inf")."""
    return web.Response(text=model.model_dump_json(), content_type="application/json")


async def read_json(request: web.Request) -> Any:
    """The body as JSON (whatever its Content-Type says); an empty or malformed body is a 400, not a 500."""
    try:
        return await request.json()
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError
        raise web.HTTPBadRequest(text=f"request body is not valid JSON: {exc}") from exc


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; any other JSON value is a client error."""
    value = await read_json(request)
    if not isinstance(value, dict):
        raise web.HTTPBadRequest(text="request body must be a JSON object")
    return value


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer aiohttp's HTTP exceptions and handler bugs as JSON errors (see the module docstring)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if request.match_info.http_exception is not None:  # the router found no route for this method and path
            message = f"no route for {request.method} {request.path}"
        else:
            message = exc.text or exc.reason
        response = error_response(exc.status, message)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:  # a bug in a handler: logged with its traceback, answered like any other error
        _LOG.exception("handler failed for %s %s", request.method, request.path)
        return error_response(500, "internal error in the stand-in server")


def json_app(routes: Iterable[web.AbstractRouteDef]) -> web.Application:
    """An aiohttp application serving ``routes`` with the JSON error shape and the stand-ins' body limit."""
    app = web.Application(middlewares=[_json_errors], client_max_size=_MAX_BODY)
    app.add_routes(routes)
    return app


@contextlib.asynccontextmanager
async def serving(app: web.Application, host: str, port: int) -> AsyncIterator[int]:
    """Serve ``app`` on ``host:port`` for the block and yield the bound port (the real one when 0 was asked for).

    Leaving the block stops listening, closes idle keep-alive connections at once (a client's pool must not keep
    the process alive) and gives answers in flight a moment to finish.
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=_BACKLOG).start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
