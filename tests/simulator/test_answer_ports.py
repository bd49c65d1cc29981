"""The stable and candidate ports of ``python -m simulator`` and the answer function behind them."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from simulator.answers import answer, baseline_answer, canonical_json, disagrees, quality
from simulator.testing import run_simulator


def test_answer_is_a_function_of_the_canonical_body() -> None:
    body = {"prompt": "hello", "user": 7}
    reordered = {"user": 7, "prompt": "hello"}
    assert canonical_json(body) == canonical_json(reordered)
    assert answer(body, version="v2", disagreement=0) == answer(reordered, version="v1", disagreement=0)
    assert baseline_answer(body) != baseline_answer({"prompt": "hello", "user": 8})
    assert quality(body, version="v2", mean=0.85, sd=0.1) == quality(reordered, version="v2", mean=0.85, sd=0.1)
    assert 0.0 <= quality(body, version="v2", mean=0.99, sd=0.5) <= 1.0


def test_disagreement_share_and_monotonicity() -> None:
    bodies = [{"prompt": f"q{i}"} for i in range(4000)]
    low = {canonical_json(b) for b in bodies if disagrees(b, 0.1)}
    high = {canonical_json(b) for b in bodies if disagrees(b, 0.3)}
    assert len(low) / len(bodies) == pytest.approx(0.1, abs=0.02)
    assert len(high) / len(bodies) == pytest.approx(0.3, abs=0.03)
    assert low <= high  # raising the knob only adds disagreeing requests
    for body in bodies[:200]:
        differs = answer(body, version="v2", disagreement=0.3) != baseline_answer(body)
        assert differs == disagrees(body, 0.3)


@pytest.mark.asyncio
async def test_ports_agree_unless_candidate_disagrees() -> None:
    async with run_simulator(knobs={"stable": {"error_rate": 0}, "candidate": {"error_rate": 0}}) as sim:
        bodies = [{"prompt": f"question {i}", "n": i} for i in range(200)]

        async def replay(url: str) -> list[dict[str, object]]:
            responses = await asyncio.gather(*(sim.client.post(f"{url}/v1/answer", json=b) for b in bodies))
            assert all(r.status_code == 200 for r in responses)
            return [r.json() for r in responses]

        stable, candidate = await replay(sim.stable_url), await replay(sim.candidate_url)
        assert {r["version"] for r in stable} == {"v1"}
        assert {r["version"] for r in candidate} == {"v2"}
        assert [r["answer"] for r in stable] == [r["answer"] for r in candidate]
        assert all(0.0 <= float(str(r["quality"])) <= 1.0 for r in candidate)

        await sim.set_knobs("v2", disagreement=0.25)
        candidate = await replay(sim.candidate_url)
        differing = [b for b, s, c in zip(bodies, stable, candidate, strict=True) if s["answer"] != c["answer"]]
        assert differing == [b for b in bodies if disagrees(b, 0.25)]
        assert 0.1 < len(differing) / len(bodies) < 0.4
        assert [r["answer"] for r in await replay(sim.stable_url)] == [r["answer"] for r in stable]


@pytest.mark.asyncio
async def test_error_rate_and_non_json() -> None:
    async with run_simulator(knobs={"v2": {"error_rate": 1.0}}) as sim:
        failed = await sim.client.post(f"{sim.candidate_url}/any/path", json={"prompt": "x"})
        assert failed.status_code == 500
        assert failed.json()["version"] == "v2"
        assert "error" in failed.json()
        assert (await sim.client.post(sim.stable_url, content=b"not json")).status_code == 400
        assert (await sim.client.get(f"{sim.stable_url}/healthz")).json()["version"] == "v1"


@pytest.mark.asyncio
async def test_ports_serve_many_requests_over_few_kept_alive_connections() -> None:
    async with run_simulator(knobs={"stable": {"error_rate": 0}}) as sim:
        limits = httpx.Limits(max_connections=4)
        async with httpx.AsyncClient(limits=limits) as client:
            responses = await asyncio.gather(*(client.post(sim.stable_url, json={"i": i}) for i in range(400)))
        assert all(r.status_code == 200 for r in responses)
