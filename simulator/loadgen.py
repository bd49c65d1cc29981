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
import math
import random
import signal
import sys
import time
from dataclasses import dataclass, field

import httpx
from pydantic import BaseModel, ConfigDict

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
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    qualities: list[float] = field(default_factory=list)


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def _version_of(response: httpx.Response) -> tuple[str, float | None]:
    try:
        payload = response.json()
    except ValueError:
        return UNKNOWN_VERSION, None
    if not isinstance(payload, dict):
        return UNKNOWN_VERSION, None
    version = payload.get("version")
    score = payload.get("quality")
    valid_score = float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
    return (str(version) if version is not None else UNKNOWN_VERSION), valid_score


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

    Args:
        url: the answer endpoint, e.g. ``http://127.0.0.1:8080/v1/answer``.
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
    rng = random.Random(seed)
    tallies: dict[str, _Tally] = {}
    transport_errors = 0
    skipped = 0
    in_flight: set[asyncio.Task[None]] = set()
    stop = stop or asyncio.Event()

    async def one(client: httpx.AsyncClient, user: int, prompt: int) -> None:
        nonlocal transport_errors
        body = {"user_id": f"user-{user}", "prompt": f"prompt-{prompt}"}
        started = time.monotonic()
        try:
            response = await client.post(url, json=body, headers={"X-User-Id": f"user-{user}"})
        except httpx.HTTPError:
            transport_errors += 1
            return
        elapsed_ms = (time.monotonic() - started) * 1000
        version, score = _version_of(response)
        tally = tallies.setdefault(version, _Tally())
        tally.latencies_ms.append(elapsed_ms)
        if response.status_code >= 500:
            tally.errors += 1
        elif score is not None:
            tally.qualities.append(score)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sent = 0
    start = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=request_timeout) as client:
        while not stop.is_set():
            due = start + sent / rps
            if due >= start + duration:
                break
            delay = due - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                if stop.is_set():
                    break
            sent += 1
            if len(in_flight) >= concurrency:
                skipped += 1
                continue
            task = asyncio.create_task(one(client, rng.randrange(users), rng.randrange(prompts)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(set(in_flight))
    elapsed = time.monotonic() - start
    completed = sum(len(t.latencies_ms) for t in tallies.values())
    versions: dict[str, VersionSummary] = {}
    for version, tally in sorted(tallies.items()):
        latencies = sorted(tally.latencies_ms)
        versions[version] = VersionSummary(
            requests=len(latencies),
            errors=tally.errors,
            error_rate=tally.errors / len(latencies),
            share=len(latencies) / completed,
            latency_p50_ms=_quantile(latencies, 0.5),
            latency_p95_ms=_quantile(latencies, 0.95),
            quality_mean=sum(tally.qualities) / len(tally.qualities) if tally.qualities else None,
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
