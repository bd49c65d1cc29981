"""``python -m simulator.model_server``: real answers, Prometheus text and counters that agree."""

from __future__ import annotations

import asyncio
import itertools
import math

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from simulator.answers import baseline_answer
from simulator.testing import run_model_server
from tests.simulator.helpers import quantile_ms


def parse(text: str) -> tuple[list[Sample], dict[str, str]]:
    """Every sample of an exposition body, and each family's type (prometheus_client names a counter family
    without its ``_total``)."""
    families = list(text_string_to_metric_families(text))
    return [s for f in families for s in f.samples], {f.name: f.type for f in families}


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    matches = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (name, labels, matches)
    return float(matches[0])


@pytest.mark.asyncio
async def test_answers_metrics_and_counters_agree() -> None:
    async with run_model_server(version="v2", error_rate=0.1, latency_p50_ms=5, latency_p95_ms=15, seed=3) as server:
        samples, types = parse(await server.metrics_text())
        assert _value(samples, "model_requests_total", version="v2", status="200") == 0

        bodies = [{"prompt": f"p{i}"} for i in range(300)]
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:
            responses = await asyncio.gather(*(client.post(server.answer_url, json=b) for b in bodies))
        ok = [(b, r.json()) for b, r in zip(bodies, responses, strict=True) if r.status_code == 200]
        failed = [r for r in responses if r.status_code == 500]
        assert len(ok) + len(failed) == len(bodies)
        assert 10 <= len(failed) <= 60  # ~10 %
        assert all(r.json()["version"] == "v2" for r in failed)
        assert all(payload["answer"] == baseline_answer(body) for body, payload in ok)

        counters = await server.counters()
        assert counters.requests == 300
        assert counters.errors == len(failed)
        assert counters.quality_count == len(ok)
        assert counters.quality_sum == pytest.approx(sum(p["quality"] for _, p in ok))
        assert 5 <= quantile_ms(counters, 0.5) < 12  # real sleeps overshoot a little
        assert 12 <= quantile_ms(counters, 0.95) < 40

        samples, types = parse(await server.metrics_text())
        assert types["model_requests"] == "counter"
        assert types["model_request_duration_seconds"] == "histogram"
        assert _value(samples, "model_requests_total", version="v2", status="200") == len(ok)
        assert _value(samples, "model_requests_total", version="v2", status="500") == len(failed)
        buckets = [s for s in samples if s.name == "model_request_duration_seconds_bucket"]
        assert buckets[-1].labels["le"] == "+Inf"
        assert buckets[-1].value == 300
        bounds = [float(s.labels["le"]) for s in buckets]
        assert bounds == sorted(bounds)
        assert [s.value for s in buckets] == [c for _, c in counters.latency_ms_buckets]
        fine = [b for b in bounds if 0.005 <= b <= 4]
        assert max(hi / lo for lo, hi in itertools.pairwise(fine)) < 1.08  # decides a 1.1x p95 ratio
        assert _value(samples, "model_request_duration_seconds_count", version="v2") == 300
        assert _value(samples, "model_request_duration_seconds_sum", version="v2") > 0
        assert _value(samples, "model_quality_sum", version="v2") == pytest.approx(counters.quality_sum)
        assert _value(samples, "model_quality_sum_squares", version="v2") == pytest.approx(counters.quality_sum_squares)
        assert _value(samples, "model_quality_count", version="v2") == len(ok)
        assert math.isinf(float(buckets[-1].labels["le"]))


@pytest.mark.asyncio
async def test_knobs_change_at_runtime_and_disagreement_applies() -> None:
    async with (
        run_model_server(version="v3", error_rate=0, latency_p50_ms=1, latency_p95_ms=2) as server,
        httpx.AsyncClient() as client,
    ):
        body = {"prompt": "same"}
        first = (await client.post(server.answer_url, json=body)).json()
        assert first["answer"] == baseline_answer(body)
        assert (await server.set_knobs(disagreement=1.0))["disagreement"] == 1.0
        second = (await client.post(server.answer_url, json=body)).json()
        assert second["answer"] != baseline_answer(body)
        bad = await client.put(f"{server.url}/knobs", json={"error_rate": 2})
        assert bad.status_code == 400
        assert (await client.post(server.answer_url, content=b"nope")).status_code == 400
        assert (await client.get(f"{server.url}/healthz")).json() == {"ok": True, "version": "v3"}
