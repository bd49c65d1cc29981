"""Issue 19 on the real dev server: an accepted untestable p95 whose buckets cannot resolve the spec's
``accept_untestable_ratio_max`` ends the rollout before traffic moves, the field named in the record."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from temporalio.client import Client

from simulator.testing import run_simulator
from tests.workflows.helpers import compressed_spec, rollout_worker, start_rollout, unique_service

POWERS_OF_TWO = [[25, 0], [50, 1000], [100, 15000], [200, 40000], [400, 49000], [800, 50000], ["+Inf", 50000]]
"""Stable's p95 lies in (200, 400] ms: buckets 2x wide, so the smallest detectable p95 ratio there is 2x."""


class _CoarseCounters(BaseHTTPRequestHandler):
    """Counters with quality scores and a power-of-two latency histogram, as a service on coarse buckets reports."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "requests": 50_000,
                "errors": 50,
                "latency_ms_buckets": POWERS_OF_TWO,
                "quality_sum": 40_000.0,
                "quality_sum_squares": 33_000.0,
                "quality_count": 50_000,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def _coarse_metrics() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CoarseCounters)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


async def test_an_accepted_p95_too_coarse_for_the_ratio_limit_ends_the_rollout_before_traffic_moves(
    client: Client, task_queue: str
) -> None:
    service = unique_service()
    with _coarse_metrics() as url:
        async with run_simulator(knobs={"rps": 200000}) as sim, rollout_worker(client, task_queue):
            spec = compressed_spec(
                sim, service, metrics={"kind": "http-json", "url": url}, accept_untestable=["latency_p95"]
            )
            handle = await start_rollout(client, spec, task_queue)
            result = await handle.result()
            calls = await sim.calls(service)
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.cause == "untestable"
    assert "accept_untestable_ratio_max 1.5x" in record.rollback.reason, record.rollback.reason
    assert "smallest detectable ratio 2x" in record.rollback.reason
    assert calls == [], "no traffic moved"
