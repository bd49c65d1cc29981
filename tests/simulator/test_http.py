"""The stand-ins' HTTP on real sockets: keep-alive, pipelining, chunked bodies, JSON errors, a prompt stop."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import httpx

from simulator.answers import baseline_answer
from simulator.procs import running
from simulator.testing import run_model_server, run_simulator

Reply = tuple[int, dict[str, str], bytes]


async def _read_reply(reader: asyncio.StreamReader) -> Reply:
    """One response off the wire: status, headers (lower-case names) and the Content-Length body."""
    status = int((await reader.readline()).split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, await reader.readexactly(int(headers["content-length"]))


async def _exchange(port: int, raw: bytes, replies: int) -> tuple[list[Reply], bytes]:
    """Write ``raw`` on one connection, read ``replies`` responses, then whatever comes until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        got = [await asyncio.wait_for(_read_reply(reader), timeout=5) for _ in range(replies)]
        return got, await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


async def test_one_connection_serves_pipelined_requests_until_connection_close() -> None:
    body = {"prompt": 1}
    async with run_model_server(error_rate=0, latency_p50_ms=1, latency_p95_ms=2) as server:
        replies, rest = await _exchange(
            server.port,
            b'POST /v1/answer HTTP/1.1\r\nHost: t\r\nContent-Length: 13\r\n\r\n{"prompt": 1}'
            b"POST /v1/answer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'2\r\n{"\r\n9\r\nprompt":1\r\n1\r\n}\r\n0\r\n\r\n'
            b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
            b"DELETE /knobs HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            replies=5,
        )
        assert (await server.counters()).requests == 2
    assert [status for status, _, _ in replies] == [200, 200, 404, 405, 200]
    assert [json.loads(reply)["answer"] for _, _, reply in replies[:2]] == [baseline_answer(body)] * 2
    assert json.loads(replies[2][2]) == {"error": "no route for GET /nope"}
    assert json.loads(replies[3][2]) == {"error": "no route for DELETE /knobs"}
    assert set(replies[3][1]["allow"].split(",")) >= {"GET", "PUT"}
    assert replies[4][1]["connection"] == "close"
    assert rest == b"", "the server closes the connection after the response to Connection: close"


async def test_malformed_requests_are_client_errors() -> None:
    async with run_model_server(error_rate=0, latency_p50_ms=1, latency_p95_ms=2) as server:
        (garbage,), rest = await _exchange(server.port, b"garbage\r\n\r\n", replies=1)
        assert garbage[0] == 400
        assert rest == b""
        async with httpx.AsyncClient(base_url=server.url) as client:
            not_json = await client.post("/v1/answer", content=b"{oops")
            not_object = await client.put("/knobs", json=[1])
        assert not_json.status_code == 400
        assert not_json.json()["version"] == "v2"
        assert "not valid JSON" in not_json.json()["error"]
        assert (not_object.status_code, not_object.json()) == (400, {"error": "request body must be a JSON object"})
        assert (await server.counters()).requests == 1, "the malformed answer request is counted, as a 400"


async def test_every_port_answers_json_errors() -> None:
    async with run_simulator() as sim:
        unrouted = await sim.client.get(f"{sim.control_url}/nope")
        wrong_method = await sim.client.delete(sim.routes_url("chat"))
        not_post = await sim.client.get(f"{sim.candidate_url}/v1/answer")
    assert (unrouted.status_code, unrouted.json()) == (404, {"error": "no route for GET /nope"})
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"error": "no route for DELETE /routes/chat"})
    assert (not_post.status_code, not_post.json()) == (405, {"error": "POST a JSON body", "version": "v2"})


async def test_sigterm_exits_zero_at_once_with_an_idle_keep_alive_connection_open() -> None:
    ready_line: list[bytes] = []

    async def ready(process: asyncio.subprocess.Process) -> bool:
        assert process.stdout is not None
        ready_line.append(await process.stdout.readline())
        return bool(ready_line[-1])

    argv = [sys.executable, "-m", "simulator.model_server", "--port", "0", "--version", "v2"]
    async with running(argv, ready=ready, what="model server", timeout=15, stdout=asyncio.subprocess.PIPE) as process:
        port = json.loads(ready_line[-1])["port"]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()
        assert (await _read_reply(reader))[0] == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=2) == 0
        assert await asyncio.wait_for(reader.read(), timeout=1) == b""
        writer.close()


async def test_model_server_reads_answer_200_with_their_content_types() -> None:
    async with run_model_server() as server, httpx.AsyncClient(base_url=server.url) as client:
        for path in ("/metrics", "/counters", "/healthz", "/knobs"):
            response = await client.get(path)
            assert response.status_code == 200, path
            kind = "text/plain; version=0.0.4" if path == "/metrics" else "application/json"
            assert response.headers["content-type"].startswith(kind), path
