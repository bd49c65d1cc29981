"""``python -m simulator.loadgen``: steady open-loop load against a model endpoint, summarised per version.

Open loop (requests start on a fixed schedule, not when the previous one returns) because that is how user
traffic behaves: a slow version does not get fewer requests. Concurrency is still bounded so an outage cannot
pile up unbounded sockets; a request whose slot is not free at its start time is counted as ``skipped``.
The per-version summary is counted from the responses themselves, so a test can compare it with what the
metrics pipeline (e.g. Prometheus behind nginx) reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from simulator.buckets import LATENCY_BOUNDS_MS, bucket_index

UNKNOWN_VERSION = "unknown"
"""Version of responses that carry none (e.g. a proxy's own 502)."""


class VersionSummary(BaseModel):
    """What one version's responses looked like from the client side."""

    model_config = ConfigDict(frozen=True)

    requests: int
    errors: int
    error_rate: float
    share: float
    latency_p50_ms: float
    latency_p95_ms: float
    quality_mean: float | None


class LoadSummary(BaseModel):
    """Result of one load run."""

    model_config = ConfigDict(frozen=True)

    url: str
    sent: int
    completed: int
    transport_errors: int
    skipped: int
    duration_s: float
    achieved_rps: float
    versions: dict[str, VersionSummary]


@dataclass
class _Tally:
    """One version's responses: a latency histogram (bounded memory over a day of load), errors, scores."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))
    requests: int = 0
    errors: int = 0
    quality_sum: float = 0.0
    quality_count: int = 0

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding the q-quantile (buckets are 7.5 % wide where latencies live)."""
        if not self.requests:
            return math.nan
        rank = max(1, math.ceil(q * self.requests))
        running = 0
        for bound, count in zip(LATENCY_BOUNDS_MS, self.buckets, strict=True):
            running += count
            if running >= rank:
                return bound
        return math.inf


def _version_of(status: int, body: bytes) -> tuple[str, float | None]:
    try:
        payload = json.loads(body)
    except ValueError:
        return UNKNOWN_VERSION, None
    if not isinstance(payload, dict):
        return UNKNOWN_VERSION, None
    version = payload.get("version")
    score = payload.get("quality")
    valid_score = float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
    return (str(version) if version is not None else UNKNOWN_VERSION), valid_score


class _ConnectionLost(Exception):
    """The connection closed, or its answer could not be parsed, before a whole response arrived."""


_Done = Callable[[int, bytes | None], None]
"""Called once per request: (status, body) on a response, (0, None) on a transport error."""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time, parsed by hand with callbacks.

    Why not an HTTP library: a request through httpx costs about a millisecond of CPU, so on 2 cores the client
    alone capped the demo at about 200 requests per second. This parses only what a model server or nginx sends
    (a status line, headers with Content-Length or chunked encoding) and hands back status and body.
    """

    def __init__(self, on_lost: Callable[[_Connection], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.done: _Done | None = None
        self.on_lost = on_lost
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes, done: _Done) -> None:
        assert self.transport is not None and self.done is None
        self.done = done
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            parsed = self._parse()
        except _ConnectionLost:
            self.abort()
            return
        if parsed is None:
            return
        status, body, used, keep = parsed
        del self.buffer[:used]
        done, self.done = self.done, None
        if not keep:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        if done is not None:
            done(status, body)

    def _parse(self) -> tuple[int, bytes, int, bool] | None:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        lines = bytes(self.buffer[:head_end]).split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise _ConnectionLost
        status = int(parts[1])
        length: int | None = None
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = value.strip().lower() != b"close"
        start = head_end + 4
        if chunked:
            return self._parse_chunked(status, start, keep)
        if length is None:
            raise _ConnectionLost  # read-until-close bodies are not worth supporting here
        if len(self.buffer) < start + length:
            return None
        return status, bytes(self.buffer[start : start + length]), start + length, keep

    def _parse_chunked(self, status: int, position: int, keep: bool) -> tuple[int, bytes, int, bool] | None:
        body = bytearray()
        while True:
            line_end = self.buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
            chunk_start = line_end + 2
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return None
                return status, bytes(body), trailer_end + 4, keep
            if len(self.buffer) < chunk_start + size + 2:
                return None
            body += self.buffer[chunk_start : chunk_start + size]
            position = chunk_start + size + 2

    def abort(self) -> None:
        """Give up on this connection (timeout, garbage): its request counts as a transport error."""
        if self.transport is not None:
            self.transport.abort()
        self.connection_lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed and self.done is None:
            return
        self.closed = True
        done, self.done = self.done, None
        if done is not None:
            done(0, None)
        self.on_lost(self)


async def run_load(
    url: str,
    *,
    rps: float,
    users: int = 1000,
    duration: float = 60.0,
    concurrency: int = 256,
    prompts: int = 500,
    seed: int = 0,
    request_timeout: float = 10.0,
    stop: asyncio.Event | None = None,
) -> LoadSummary:
    """Send ``rps`` requests per second to ``url`` for ``duration`` seconds and summarise the responses.

    Requests go over a pool of keep-alive connections (at most ``concurrency``, one request in flight on each),
    opened as the load needs them.

    Args:
        url: the answer endpoint, e.g. ``http://127.0.0.1:8080/v1/answer`` (plain HTTP).
        rps: request start rate.
        users: size of the user population; each request carries a random ``X-User-Id`` from it, so sticky
            routing by user can be exercised.
        duration: seconds of load.
        concurrency: most requests in flight at once.
        prompts: number of distinct prompts; repeats let shadow comparison see the same request twice.
        seed: seed of users and prompts.
        request_timeout: per-request timeout; a timeout counts as a transport error.
        stop: set it to end the run early (the summary covers what was sent).
    """
    if rps <= 0 or users <= 0 or concurrency <= 0:
        raise ValueError("rps, users and concurrency must be positive")
    parsed = urlsplit(url)
    if parsed.scheme != "http" or parsed.hostname is None:
        raise ValueError(f"url must be plain http://host:port/path, got {url!r}")
    host, port = parsed.hostname, parsed.port or 80
    path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    host_header = parsed.netloc
    rng = random.Random(seed)
    tallies: dict[str, _Tally] = {}
    transport_errors = 0
    skipped = 0
    sent = 0
    in_flight = 0
    idle: deque[_Connection] = deque()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    drained = asyncio.Event()
    drained.set()

    def request_bytes(user: int, prompt: int) -> bytes:
        body = f'{{"user_id": "user-{user}", "prompt": "prompt-{prompt}"}}'.encode()
        return (
            f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nX-User-Id: user-{user}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def lost(connection: _Connection) -> None:
        with contextlib.suppress(ValueError):
            idle.remove(connection)

    def issue(connection: _Connection, request: bytes) -> None:
        nonlocal in_flight
        in_flight += 1
        drained.clear()
        started = time.monotonic()
        timer = loop.call_later(request_timeout, connection.abort)

        def done(status: int, body: bytes | None) -> None:
            nonlocal transport_errors, in_flight
            timer.cancel()
            in_flight -= 1
            if in_flight == 0:
                drained.set()
            if body is None:
                transport_errors += 1
                return
            if not connection.closed:
                idle.append(connection)
            version, score = _version_of(status, body)
            tally = tallies.get(version)
            if tally is None:
                tally = tallies[version] = _Tally()
            tally.requests += 1
            tally.buckets[bucket_index((time.monotonic() - started) * 1000)] += 1
            if status >= 500:
                tally.errors += 1
            elif score is not None:
                tally.quality_sum += score
                tally.quality_count += 1

        connection.send(request, done)

    async def open_and_issue(request: bytes) -> None:
        nonlocal transport_errors, in_flight
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(lost), host, port), timeout=request_timeout
            )
        except (OSError, TimeoutError):
            transport_errors += 1
            return
        finally:
            in_flight -= 1
            if in_flight == 0:
                drained.set()
        issue(connection, request)

    openers: set[asyncio.Task[None]] = set()
    tick = 0.002
    start = time.monotonic()
    end = start + duration
    while not stop.is_set():
        now = time.monotonic()
        due = min(int((min(now, end) - start) * rps) + 1, math.ceil(duration * rps))
        while sent < due:
            sent += 1
            request = request_bytes(rng.randrange(users), rng.randrange(prompts))
            if idle:
                issue(idle.popleft(), request)
            elif in_flight < concurrency:
                in_flight += 1  # the opener holds a slot until its request is issued
                drained.clear()
                task = asyncio.create_task(open_and_issue(request))
                openers.add(task)
                task.add_done_callback(openers.discard)
            else:
                skipped += 1
        if now >= end:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(tick, start + sent / rps - time.monotonic()))
    if in_flight:
        await drained.wait()
    elapsed = time.monotonic() - start
    for connection in list(idle):
        connection.closed = True
        if connection.transport is not None:
            connection.transport.close()
    completed = sum(t.requests for t in tallies.values())
    versions: dict[str, VersionSummary] = {}
    for version, tally in sorted(tallies.items()):
        versions[version] = VersionSummary(
            requests=tally.requests,
            errors=tally.errors,
            error_rate=tally.errors / tally.requests,
            share=tally.requests / completed,
            latency_p50_ms=tally.quantile(0.5),
            latency_p95_ms=tally.quantile(0.95),
            quality_mean=tally.quality_sum / tally.quality_count if tally.quality_count else None,
        )
    return LoadSummary(
        url=url,
        sent=sent - skipped,
        completed=completed,
        transport_errors=transport_errors,
        skipped=skipped,
        duration_s=elapsed,
        achieved_rps=(sent - skipped) / elapsed if elapsed > 0 else 0.0,
        versions=versions,
    )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulator.loadgen", description=__doc__)
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8080/v1/answer")
    parser.add_argument("--rps", type=float, default=50.0)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> LoadSummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run_load(
        args.url,
        rps=args.rps,
        users=args.users,
        duration=args.duration,
        concurrency=args.concurrency,
        prompts=args.prompts,
        seed=args.seed,
        request_timeout=args.timeout,
        stop=stop,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the load and print the summary as one JSON line (also after Ctrl-C)."""
    args = _parse_args(argv)
    try:
        summary = asyncio.run(_main(args))
    except ValueError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    print(summary.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
