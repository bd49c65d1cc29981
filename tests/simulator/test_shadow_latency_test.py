"""The shadow activity's latency test on real model servers over loopback (``activities.shadow.run_shadow``).

Checks the wiring, not the rates (those are bench/shadow_latency.py's): asked for a limit, the activity returns
the quantile test's p-value on the replay's own latencies; not asked, or too few requests, it returns none.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from activities.shadow import run_shadow
from models.activities import LatencyLimit, ShadowInput
from models.spec import ShadowSpec
from simulator.testing import run_model_server

REQUESTS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "demo-requests.jsonl"


async def test_the_replay_tests_the_candidate_p95_against_the_limit() -> None:
    async with (
        run_model_server(version="v1", error_rate=0, latency_p50_ms=5, latency_p95_ms=10, seed=1) as stable,
        run_model_server(version="v2", error_rate=0, latency_p50_ms=400, latency_p95_ms=800, seed=2) as slow,
        httpx.AsyncClient() as http,
    ):

        def task(requests: int, limit: LatencyLimit | None) -> ShadowInput:
            spec = ShadowSpec(requests_file=str(REQUESTS), max_requests=requests, concurrency=16)
            return ShadowInput(
                shadow=spec, stable_endpoint=stable.answer_url, candidate_endpoint=slow.answer_url, latency_limit=limit
            )

        tested = await run_shadow(task(200, LatencyLimit(ratio=1.1)), http)
        untested = await run_shadow(task(200, None), http)
        small = await run_shadow(task(50, LatencyLimit(ratio=1.1)), http)
    # 80 times slower at the p95: overwhelming on 200 requests, even where a loaded machine adds 100 ms to each.
    assert tested.latency_p_value is not None and tested.latency_p_value < 1e-6, tested
    assert tested.candidate.latency_p95_ms is not None and tested.stable.latency_p95_ms is not None
    assert untested.latency_p_value is None
    assert small.latency_p_value is None, "50 requests cannot reach 1%: the gate keeps its point comparison"
