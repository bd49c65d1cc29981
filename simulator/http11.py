"""A minimal asyncio HTTP/1.1 server: enough for loopback stand-ins, with no third-party dependency.

The simulator and the model servers must start in well under a second inside tests and must not pull a web
framework into the project, so this module implements only what they need: Content-Length and chunked request
bodies, keep-alive, concurrent connections, JSON helpers and a clean shutdown that closes idle keep-alive
connections (otherwise a client pool would keep the process alive after SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_LOG = logging.getLogger(__name__)

_MAX_LINE = 16 * 1024
_MAX_HEADERS = 100
_MAX_BODY = 8 * 1024 * 1024


class HttpError(Exception):
    """Raised by a handler to answer with a JSON error body instead of a 500."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def segments(self) -> list[str]:
        """Percent-decoded, non-empty path segments, so handlers can match routes by list patterns."""
        return [unquote(part) for part in self.path.split("/") if part]

    def json(self) -> Any:
        """Decode the body as JSON, answering 400 (not 500) on malformed input."""
        if not self.body:
            raise HttpError(400, "request body must be JSON")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"request body is not valid JSON: {exc}") from exc

    def json_object(self) -> dict[str, Any]:
        """Decode the body as a JSON object; other JSON values are a client error."""
        value = self.json()
        if not isinstance(value, dict):
            raise HttpError(400, "request body must be a JSON object")
        return value


@dataclass(frozen=True)
class Response:
    """One HTTP response; the server adds Content-Length and Connection."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


def json_response(value: Any, status: int = 200) -> Response:
    """Serialise ``value`` as compact JSON."""
    return Response(status=status, body=json.dumps(value, separators=(",", ":")).encode())


def json_bytes_response(body: str | bytes, status: int = 200) -> Response:
    """Wrap JSON that is already serialised (e.g. by pydantic's ``model_dump_json``)."""
    return Response(status=status, body=body.encode() if isinstance(body, str) else body)


def error_response(status: int, message: str, **extra: Any) -> Response:
    """The JSON error shape used everywhere: ``{"error": message, ...}``."""
    return json_response({"error": message, **extra}, status=status)


class _BadRequest(Exception):
    """The bytes on the wire are not HTTP we can parse; the connection is closed after a 400."""


class HttpServer:
    """Serves one handler on one TCP port until :meth:`close`."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """The bound port, useful when started on port 0."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(self._serve_connection, host, port, limit=_MAX_LINE, backlog=1024)

    async def close(self) -> None:
        """Stop accepting, close every open connection and wait for the listener to go away."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
        self._server = None

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except _BadRequest as exc:
                    await _write_response(writer, error_response(400, str(exc)), keep_alive=False)
                    return
                if request is None:
                    return
                response = await self._dispatch(request)
                keep_alive = _wants_keep_alive(request)
                await _write_response(writer, response, keep_alive=keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        except asyncio.CancelledError:
            raise
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(self, request: Request) -> Response:
        try:
            return await self._handler(request)
        except HttpError as exc:
            return error_response(exc.status, exc.message)
        except Exception:  # a bug in a handler must not kill the connection loop silently
            _LOG.exception("handler failed for %s %s", request.method, request.path)
            return error_response(500, "internal error in the stand-in server")


def _wants_keep_alive(request: Request) -> bool:
    connection = request.headers.get("connection", "").lower()
    if "close" in connection:
        return False
    return request.headers.get(":version", "HTTP/1.1") != "HTTP/1.0" or "keep-alive" in connection


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read one request, or ``None`` when the client closed the connection between requests."""
    line = await reader.readline()
    if not line:
        return None
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between pipelined requests (RFC 9112 2.2)
        line = await reader.readline()
        if not line:
            return None
    try:
        method, target, version = line.decode("latin-1").strip().split(" ")
    except ValueError as exc:
        raise _BadRequest("malformed request line") from exc
    if not version.startswith("HTTP/1."):
        raise _BadRequest("only HTTP/1.x is supported")
    headers: dict[str, str] = {":version": version}
    for _ in range(_MAX_HEADERS):
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip()
    else:
        raise _BadRequest("too many headers")
    body = await _read_body(reader, headers)
    parts = urlsplit(target)
    query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    return Request(method=method.upper(), path=parts.path or "/", query=query, headers=headers, body=body)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readline()
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError as exc:
                raise _BadRequest("malformed chunk size") from exc
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # discard trailers
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY:
                raise _BadRequest("request body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length_text = headers.get("content-length", "0") or "0"
    try:
        length = int(length_text)
    except ValueError as exc:
        raise _BadRequest("malformed Content-Length") from exc
    if length < 0 or length > _MAX_BODY:
        raise _BadRequest("bad Content-Length")
    return await reader.readexactly(length) if length else b""


async def _write_response(writer: asyncio.StreamWriter, response: Response, *, keep_alive: bool) -> None:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in response.headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)
    await writer.drain()
