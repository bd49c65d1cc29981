"""The control port of ``python -m simulator``: routes, call log, metrics, knobs, faults and resets."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import httpx
import pytest

from simulator.testing import run_simulator
from tests.simulator.helpers import eventually, quantile_ms


@pytest.mark.asyncio
async def test_routes_default_update_validation_and_call_log() -> None:
    async with run_simulator() as sim:
        assert await sim.routes("chat") == {"stable": 100.0, "candidate": 0.0}
        assert await sim.set_routes("chat", stable=95, candidate=5) == {"stable": 95.0, "candidate": 5.0}
        await sim.set_routes("search", stable=50, candidate=50)
        await sim.set_routes("chat", stable=75.5, candidate=24.5)
        assert await sim.routes("chat") == {"stable": 75.5, "candidate": 24.5}

        for bad in (
            {"stable": 90, "candidate": 11},
            {"stable": 101, "candidate": -1},
            {"stable": "90", "candidate": 10},
            {"stable": True, "candidate": 99},
            {"stable": 100},
            [100, 0],
        ):
            response = await sim.client.put(sim.routes_url("chat"), json=bad)
            assert response.status_code == 400, bad
            assert "error" in response.json()
        response = await sim.client.put(sim.routes_url("chat"), content=b"{not json")
        assert response.status_code == 400

        calls = await sim.calls()
        assert [c["seq"] for c in calls] == [1, 2, 3]
        assert [(c["service"], c["stable"], c["candidate"]) for c in calls] == [
            ("chat", 95.0, 5.0),
            ("search", 50.0, 50.0),
            ("chat", 75.5, 24.5),
        ]
        assert calls[0]["at"] <= calls[1]["at"] <= calls[2]["at"]
        assert [c["seq"] for c in await sim.calls("chat")] == [1, 3]
        assert await sim.routes("chat") == {"stable": 75.5, "candidate": 24.5}  # rejected PUTs changed nothing


@pytest.mark.asyncio
async def test_traffic_grows_in_real_time_and_split_follows_weights() -> None:
    async with run_simulator(knobs={"rps": 2000}) as sim:
        first = await sim.metrics("chat", "v1")
        grown = await eventually(lambda: sim.metrics("chat", "v1"), lambda c: c.requests > first.requests + 50)
        assert grown.latency_ms_buckets[-1][1] == grown.requests
        assert (await sim.metrics("chat", "v2")).requests == 0  # candidate gets nothing at weight 0

        await sim.set_rps(20_000)
        await sim.set_routes("chat", stable=80, candidate=20)
        before = {v: (await sim.metrics("chat", v)).requests for v in ("v1", "v2")}
        await sim.advance(10)
        after = {v: (await sim.metrics("chat", v)).requests for v in ("v1", "v2")}
        stable_delta, candidate_delta = after["v1"] - before["v1"], after["v2"] - before["v2"]
        assert stable_delta + candidate_delta == pytest.approx(200_000, rel=0.03)
        assert candidate_delta / (stable_delta + candidate_delta) == pytest.approx(0.2, abs=0.01)


@pytest.mark.asyncio
async def test_counters_follow_knobs() -> None:
    knobs = {"rps": 50_000, "v2": {"error_rate": 0.1, "latency_p50_ms": 100, "latency_p95_ms": 400}}
    async with run_simulator(knobs=knobs, seed=7) as sim:
        await sim.set_routes("chat", stable=50, candidate=50)
        await sim.advance(20)
        stable, candidate = await sim.metrics("chat", "v1"), await sim.metrics("chat", "v2")

        assert stable.errors / stable.requests == pytest.approx(0.01, rel=0.1)
        assert candidate.errors / candidate.requests == pytest.approx(0.1, rel=0.05)
        assert quantile_ms(stable, 0.5) == pytest.approx(120, rel=0.05)
        assert quantile_ms(stable, 0.95) == pytest.approx(300, rel=0.05)
        assert quantile_ms(candidate, 0.95) == pytest.approx(400, rel=0.05)

        assert stable.quality_count == stable.requests - stable.errors
        mean = stable.quality_sum / stable.quality_count
        variance = stable.quality_sum_squares / stable.quality_count - mean**2
        assert mean == pytest.approx(0.85, abs=0.01)  # clipping at 1 lowers the mean a little
        assert 0.0 < variance < 0.01

        # The candidate regresses mid-run: later windows show it, earlier counts are untouched.
        assert (await sim.set_knobs("candidate", quality_mean=0.6))["quality_mean"] == 0.6
        await sim.advance(20)
        later = await sim.metrics("chat", "v2")
        window_mean = (later.quality_sum - candidate.quality_sum) / (later.quality_count - candidate.quality_count)
        assert window_mean == pytest.approx(0.6, abs=0.01)


@pytest.mark.asyncio
async def test_counters_json_shape_and_errors() -> None:
    async with run_simulator() as sim:
        raw = (await sim.client.get(sim.metrics_url("chat"), params={"version": "v1"})).json()
        assert set(raw) == {
            "requests",
            "errors",
            "latency_ms_buckets",
            "quality_sum",
            "quality_sum_squares",
            "quality_count",
            "inputs",
        }
        assert raw["latency_ms_buckets"][-1][0] == "+Inf"
        assert set(raw["inputs"]) == {"prompt_length", "language", "tool_use"}
        assert sum(raw["inputs"]["language"].values()) == raw["requests"], "every request has each feature once"
        bounds = [b for b, _ in raw["latency_ms_buckets"][:-1]]
        assert bounds == sorted(bounds)
        assert len(raw["latency_ms_buckets"]) <= 100
        unknown = await sim.client.get(sim.metrics_url("chat"), params={"version": "v9"})
        assert unknown.status_code == 404
        assert "error" in unknown.json()
        missing = await sim.client.get(sim.metrics_url("chat"))
        assert missing.status_code == 400


@pytest.mark.asyncio
async def test_knob_validation() -> None:
    async with run_simulator() as sim:
        base = sim.control_url
        assert (await sim.client.put(f"{base}/knobs/v2", json={"error_rate": 1.5})).status_code == 400
        assert (await sim.client.put(f"{base}/knobs/v2", json={"no_such_knob": 1})).status_code == 400
        assert (await sim.client.put(f"{base}/knobs/v2", json={"latency_p95_ms": 50})).status_code == 400
        assert (await sim.client.put(f"{base}/knobs/v9", json={"error_rate": 0.1})).status_code == 404
        assert (await sim.client.put(f"{base}/knobs", json={"rps": -1})).status_code == 400
        await sim.set_knobs("v2", latency_p50_ms=40, latency_p95_ms=80)
        knobs = await sim.knobs()
        assert knobs["versions"]["v2"]["latency_p95_ms"] == 80
        assert knobs["versions"]["v1"]["latency_p95_ms"] == 300


@pytest.mark.asyncio
async def test_faults_make_endpoints_unavailable_until_cleared() -> None:
    async with run_simulator() as sim:
        await sim.set_faults(router_down=True)
        assert (await sim.client.get(sim.routes_url("chat"))).status_code == 503
        down = await sim.client.put(sim.routes_url("chat"), json={"stable": 90, "candidate": 10})
        assert down.status_code == 503
        assert "error" in down.json()
        assert (await sim.client.get(sim.metrics_url("chat"), params={"version": "v1"})).status_code == 200

        await sim.set_faults(router_down=False, metrics_down=True)
        assert (await sim.client.get(sim.metrics_url("chat"), params={"version": "v1"})).status_code == 503
        assert await sim.routes("chat") == {"stable": 100.0, "candidate": 0.0}
        assert await sim.calls() == []  # the PUT during the outage was not applied

        await sim.set_faults(metrics_down=False, router_apply_then_fail=True)
        ambiguous = await sim.client.put(sim.routes_url("chat"), json={"stable": 90, "candidate": 10})
        assert ambiguous.status_code == 503
        await sim.set_faults(router_apply_then_fail=False)
        assert await sim.routes("chat") == {"stable": 90.0, "candidate": 10.0}
        assert len(await sim.calls()) == 1
        assert (await sim.client.put(f"{sim.control_url}/faults", json={"router_down": "yes"})).status_code == 400


@pytest.mark.asyncio
async def test_reset_zeroes_one_version_then_it_grows_again() -> None:
    async with run_simulator(knobs={"rps": 10_000}) as sim:
        await sim.set_routes("chat", stable=50, candidate=50)
        await sim.advance(5)
        before_stable = await sim.metrics("chat", "v1")
        assert (await sim.metrics("chat", "v2")).requests > 10_000
        await sim.reset("v2")
        after = await sim.metrics("chat", "v2")
        assert after.requests < 1_000  # only what arrived since the reset (real time, milliseconds)
        assert (await sim.metrics("chat", "v1")).requests >= before_stable.requests
        await sim.advance(1)
        assert (await sim.metrics("chat", "v2")).requests > after.requests
        assert (await sim.client.post(f"{sim.control_url}/reset/v9")).status_code == 404


@pytest.mark.asyncio
async def test_process_exits_cleanly_on_sigterm() -> None:
    async with run_simulator() as sim:
        url = sim.control_url
        assert (await sim.client.get(f"{url}/healthz")).status_code == 200
    with pytest.raises(httpx.TransportError):
        async with httpx.AsyncClient() as client:
            await client.get(f"{url}/healthz", timeout=1)


@pytest.mark.asyncio
async def test_cli_exit_codes() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--control-port",
        "0",
        "--stable-port",
        "0",
        "--candidate-port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    ready = json.loads(await asyncio.wait_for(process.stdout.readline(), timeout=15))
    assert ready["event"] == "ready"
    assert ready["control_port"] > 0
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), timeout=5) == 0

    bad = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--stable-version",
        "v1",
        "--candidate-version",
        "v1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert await asyncio.wait_for(bad.wait(), timeout=15) != 0
