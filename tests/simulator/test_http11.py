"""The minimal HTTP/1.1 server: keep-alive, chunked bodies, Connection: close, malformed input."""

from __future__ import annotations

import asyncio

import pytest

from simulator.http11 import HttpServer, Request, Response, json_response
from simulator.prometheus_text import parse, render, sample_line


async def _echo(request: Request) -> Response:
    return json_response(
        {"method": request.method, "path": request.path, "query": request.query, "len": len(request.body)}
    )


async def _read_response(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    status = (await reader.readline()).decode().strip()
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


@pytest.mark.asyncio
async def test_keep_alive_chunked_and_close() -> None:
    server = HttpServer(_echo)
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /a%20b?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        writer.write(
            b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
        )
        writer.write(b"GET /d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        await writer.drain()
        first = await _read_response(reader)
        assert first[0] == "HTTP/1.1 200 OK"
        assert first[1]["connection"] == "keep-alive"
        assert b'"query":{"x":"1"}' in first[2]
        assert b'"len":3' in first[2]
        assert b'"len":5' in (await _read_response(reader))[2]
        third = await _read_response(reader)
        assert third[1]["connection"] == "close"
        assert await reader.read() == b""  # server closed
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"garbage\r\n\r\n")
        await writer.drain()
        assert (await _read_response(reader))[0] == "HTTP/1.1 400 Bad Request"
        writer.close()
    finally:
        await server.close()


def test_prometheus_text_round_trip_with_escaping() -> None:
    body = render(
        ["# TYPE m counter", sample_line("m", {"a": 'q"uo\\te\nx', "le": "+Inf"}, 3), sample_line("n", {}, 0.5)]
    )
    samples, types = parse(body.decode())
    assert types == {"m": "counter"}
    assert samples[0].labels == {"a": 'q"uo\\te\nx', "le": "+Inf"}
    assert samples[0].value == 3
    assert samples[1].value == 0.5
    with pytest.raises(ValueError, match="not a sample"):
        parse("{broken} 1")
