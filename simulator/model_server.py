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
import itertools
import json
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from pydantic import ValidationError

from simulator.answers import answer, quality
from simulator.buckets import LATENCY_BOUNDS_MS, lognormal_params
from simulator.eval_suite import grade
from simulator.inputs import FEATURES, features_of
from simulator.knobs import VersionKnobs, validation_message
from simulator.serving import error_response, json_app, model_response, read_json, read_json_object, serving
from simulator.traffic import VersionCounters

_STATUSES_ALWAYS_EXPORTED = (200, 500)


class ModelServerApp(Collector):
    """State and HTTP handlers of one model server; also the Prometheus collector of its counters.

    The exposition is built from the same :class:`VersionCounters` that ``/counters`` serves (a custom collector
    rather than prometheus_client's own instruments), so the two views can never disagree.
    """

    def __init__(self, version: str, knobs: VersionKnobs, seed: int) -> None:
        self.version = version
        self.knobs = knobs
        self.rng = random.Random(seed)
        self.counters = VersionCounters()
        self.by_status: dict[int, int] = dict.fromkeys(_STATUSES_ALWAYS_EXPORTED, 0)
        self.duration_sum_s = 0.0

    def routes(self) -> list[web.RouteDef]:
        """The endpoints listed in the module docstring."""
        return [
            web.post("/v1/answer", self._answer),
            web.get("/metrics", self._metrics),
            web.get("/counters", self._counters),
            web.get("/knobs", self._knobs),
            web.put("/knobs", self._set_knobs),
            web.get("/healthz", self._healthz),
            web.post("/grade", self._grade),
        ]

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def _counters(self, _request: web.Request) -> web.Response:
        return model_response(self.counters.snapshot())

    async def _knobs(self, _request: web.Request) -> web.Response:
        return web.json_response(self.knobs.model_dump())

    async def _set_knobs(self, request: web.Request) -> web.Response:
        try:
            self.knobs = self.knobs.updated(await read_json_object(request))
        except ValidationError as exc:
            raise web.HTTPBadRequest(text=validation_message(exc)) from exc
        return web.json_response(self.knobs.model_dump())

    async def _grade(self, request: web.Request) -> web.Response:
        """The stand-ins' eval grader (``simulator.eval_suite.grade``), for the demo's eval suite."""
        return web.json_response(grade(await read_json_object(request)))

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "version": self.version})

    async def _answer(self, request: web.Request) -> web.Response:
        # aiohttp calls the handler once the headers are in; the body may still be on its way from a busy client,
        # and the latency this server reports starts once the request is read.
        try:
            body = await read_json(request)
        except web.HTTPBadRequest as exc:
            self._record(time.monotonic(), 400, None, {})
            return error_response(400, exc.text or exc.reason, version=self.version)
        started = time.monotonic()
        features = features_of(body) if isinstance(body, dict) else {}
        knobs = self.knobs
        mu, sigma = lognormal_params(knobs.latency_p50_ms, knobs.latency_p95_ms)
        await asyncio.sleep(self.rng.lognormvariate(mu, sigma) / 1000)
        if self.rng.random() < knobs.error_rate:
            self._record(started, 500, None, features)
            return error_response(500, "simulated model error", version=self.version)
        score = quality(body, version=self.version, mean=knobs.quality_mean, sd=knobs.quality_sd)
        self._record(started, 200, score, features)
        return web.json_response(
            {
                "version": self.version,
                "answer": answer(body, version=self.version, disagreement=knobs.disagreement),
                "quality": score,
            },
        )

    def _record(self, started: float, status: int, score: float | None, features: dict[str, str]) -> None:
        elapsed_s = time.monotonic() - started
        self.counters.add_one(latency_ms=elapsed_s * 1000, error=status >= 500, quality=score, features=features)
        for name, share in self.knobs.events.items():  # named events (custom metrics), from their own generator
            self.counters.events[name] = self.counters.events.get(name, 0) + int(
                self.counters.event_rng.random() < share
            )
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.duration_sum_s += elapsed_s

    def collect(self) -> Iterator[Metric]:
        """The metric families of ``/metrics``, with the names the default PromQL queries of a rollout spec read.

        ``model_quality_sum_squares`` is untyped: prometheus_client spells every counter ``<name>_total``, and
        the name is what the queries (and dashboards) rely on.
        """
        labels = ["version"]
        requests = CounterMetricFamily(
            "model_requests", "Requests answered, by HTTP status.", labels=[*labels, "status"]
        )
        for status, count in sorted(self.by_status.items()):
            requests.add_metric([self.version, str(status)], count)
        yield requests
        duration = HistogramMetricFamily(
            "model_request_duration_seconds", "Time from request read to response, errors included.", labels=labels
        )
        # The le spelling of prometheus_client's own Histogram (an unannotated function, hence the ignore). Bounds
        # are whole hundredths of a millisecond, so six decimals in seconds are exact and print short.
        bounds = [floatToGoString(round(bound_ms / 1000, 6)) for bound_ms in LATENCY_BOUNDS_MS]  # type: ignore[no-untyped-call]
        cumulative = itertools.accumulate(self.counters.buckets)
        duration.add_metric([self.version], list(zip(bounds, cumulative, strict=True)), self.duration_sum_s)
        yield duration
        scores = SummaryMetricFamily("model_quality", "Per-response quality scores in [0, 1].", labels=labels)
        scores.add_metric([self.version], self.counters.quality_count, self.counters.quality_sum)
        yield scores
        squares = UnknownMetricFamily(
            "model_quality_sum_squares", "Sum of squared quality scores, for the variance.", labels=labels
        )
        squares.add_metric([self.version], self.counters.quality_sum_squares)
        yield squares
        inputs = CounterMetricFamily(
            "model_input_requests",
            "Requests received, by input feature and value (prompt length bucket, language, tool use).",
            labels=[*labels, "feature", "value"],
        )
        for feature, counts in self.counters.inputs.items():
            for value, count in zip(FEATURES[feature], counts, strict=True):
                inputs.add_metric([self.version, feature, value], count)
        yield inputs
        if self.counters.events:  # only where the events knob names some: the exposition is otherwise unchanged
            events = CounterMetricFamily(
                "model_events", "Named events (the events knob), for custom metrics.", labels=[*labels, "event"]
            )
            for name, count in sorted(self.counters.events.items()):
                events.add_metric([self.version, name], count)
            yield events


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
    app = json_app(ModelServerApp(args.version, knobs, args.seed).routes())
    async with serving(app, args.host, args.port) as port:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        host = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{host}:{port}"
        ready = {"event": "ready", "pid": os.getpid(), "version": args.version, "port": port, "url": url}
        print(json.dumps(ready), flush=True)
        await stop.wait()


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
