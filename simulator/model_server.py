"""``python -m simulator.model_server``: one real model version behind a real port, for end-to-end tests.

Unlike the synthetic traffic of ``python -m simulator``, every request here is served for real (with a real
``asyncio.sleep`` latency), so nginx can route between two of these and Prometheus can scrape them; the
rollout then reads metrics the way it would in production.

Endpoints: ``POST /v1/answer`` (JSON body -> ``{"version", "answer", "quality"}``; failures are HTTP 500),
``GET /metrics`` (Prometheus text), ``GET /counters`` (:class:`models.counters.Counters` JSON),
``GET|PUT /knobs`` (partial update, so a test can make the version regress mid-run) and ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import sys
import time

from pydantic import ValidationError

from simulator import prometheus_text as prom
from simulator.answers import answer, quality
from simulator.buckets import LATENCY_BOUNDS_MS, lognormal_params
from simulator.http11 import (
    HttpError,
    HttpServer,
    Request,
    Response,
    error_response,
    json_bytes_response,
    json_response,
)
from simulator.knobs import VersionKnobs, validation_message
from simulator.traffic import VersionCounters

_STATUSES_ALWAYS_EXPORTED = (200, 500)


class ModelServerApp:
    """State and HTTP handler of one model server."""

    def __init__(self, version: str, knobs: VersionKnobs, seed: int) -> None:
        self.version = version
        self.knobs = knobs
        self.rng = random.Random(seed)
        self.counters = VersionCounters()
        self.by_status: dict[int, int] = dict.fromkeys(_STATUSES_ALWAYS_EXPORTED, 0)
        self.duration_sum_s = 0.0

    async def __call__(self, request: Request) -> Response:
        """Dispatch by method and path."""
        match (request.method, request.path.rstrip("/") or "/"):
            case ("POST", "/v1/answer"):
                return await self._answer(request)
            case ("GET", "/metrics"):
                return Response(body=self.metrics_text(), content_type=prom.CONTENT_TYPE)
            case ("GET", "/counters"):
                return json_bytes_response(self.counters.snapshot().model_dump_json())
            case ("GET", "/knobs"):
                return json_response(self.knobs.model_dump())
            case ("PUT", "/knobs"):
                try:
                    self.knobs = self.knobs.updated(request.json_object())
                except ValidationError as exc:
                    raise HttpError(400, validation_message(exc)) from exc
                return json_response(self.knobs.model_dump())
            case ("GET", "/healthz"):
                return json_response({"ok": True, "version": self.version})
            case _:
                return error_response(404, f"no route for {request.method} {request.path}")

    async def _answer(self, request: Request) -> Response:
        started = time.monotonic()
        knobs = self.knobs
        try:
            body = request.json()
        except HttpError as exc:
            self._record(started, 400, None)
            return error_response(400, exc.message, version=self.version)
        mu, sigma = lognormal_params(knobs.latency_p50_ms, knobs.latency_p95_ms)
        await asyncio.sleep(self.rng.lognormvariate(mu, sigma) / 1000)
        if self.rng.random() < knobs.error_rate:
            self._record(started, 500, None)
            return error_response(500, "simulated model error", version=self.version)
        score = quality(body, version=self.version, mean=knobs.quality_mean, sd=knobs.quality_sd)
        self._record(started, 200, score)
        return json_response(
            {
                "version": self.version,
                "answer": answer(body, version=self.version, disagreement=knobs.disagreement),
                "quality": score,
            },
        )

    def _record(self, started: float, status: int, score: float | None) -> None:
        elapsed_s = time.monotonic() - started
        self.counters.add_one(latency_ms=elapsed_s * 1000, error=status >= 500, quality=score)
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.duration_sum_s += elapsed_s

    def metrics_text(self) -> bytes:
        """The Prometheus exposition of this server's counters."""
        version = {"version": self.version}
        lines = prom.family_header("model_requests_total", "counter", "Requests answered, by HTTP status.")
        lines += [
            prom.sample_line("model_requests_total", {**version, "status": str(status)}, count)
            for status, count in sorted(self.by_status.items())
        ]
        lines += prom.family_header(
            "model_request_duration_seconds", "histogram", "Time from request read to response, errors included."
        )
        cumulative = 0
        for bound_ms, count in zip(LATENCY_BOUNDS_MS, self.counters.buckets, strict=True):
            cumulative += count
            le = prom.format_le(bound_ms / 1000)
            lines.append(prom.sample_line("model_request_duration_seconds_bucket", {**version, "le": le}, cumulative))
        lines.append(prom.sample_line("model_request_duration_seconds_sum", version, self.duration_sum_s))
        lines.append(prom.sample_line("model_request_duration_seconds_count", version, cumulative))
        lines += prom.family_header("model_quality", "summary", "Per-response quality scores in [0, 1].")
        lines.append(prom.sample_line("model_quality_sum", version, self.counters.quality_sum))
        lines.append(prom.sample_line("model_quality_count", version, self.counters.quality_count))
        lines += prom.family_header(
            "model_quality_sum_squares", "counter", "Sum of squared quality scores, for the variance."
        )
        lines.append(prom.sample_line("model_quality_sum_squares", version, self.counters.quality_sum_squares))
        return prom.render(lines)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulator.model_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--version", required=True)
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--latency-p50-ms", type=float, default=20.0)
    parser.add_argument("--latency-p95-ms", type=float, default=50.0)
    parser.add_argument("--quality-mean", type=float, default=0.85)
    parser.add_argument("--quality-sd", type=float, default=0.1)
    parser.add_argument("--disagreement", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Bind, announce the port as one JSON line, serve until SIGTERM/SIGINT."""
    knobs = VersionKnobs(
        error_rate=args.error_rate,
        latency_p50_ms=args.latency_p50_ms,
        latency_p95_ms=args.latency_p95_ms,
        quality_mean=args.quality_mean,
        quality_sd=args.quality_sd,
        disagreement=args.disagreement,
        serve_delay_ms=0,
    )
    server = HttpServer(ModelServerApp(args.version, knobs, args.seed))
    try:
        await server.start(args.host, args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        host = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{host}:{server.port}"
        ready = {"event": "ready", "pid": os.getpid(), "version": args.version, "port": server.port, "url": url}
        print(json.dumps(ready), flush=True)
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="model_server %(levelname)s %(message)s")
    args = _parse_args(argv)
    try:
        asyncio.run(serve(args))
    except ValidationError as exc:
        print(f"model_server: invalid knobs: {validation_message(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"model_server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
