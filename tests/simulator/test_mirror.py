"""The simulator's router mirror: while on, the candidate serves a copy of every request stable serves."""

from __future__ import annotations

import pytest

from simulator.testing import run_simulator


@pytest.mark.asyncio
async def test_a_mirror_copies_stables_traffic_to_the_candidate_and_switches_off() -> None:
    async with run_simulator(knobs={"rps": 1000}) as sim:
        await sim.set_routes("chat", stable=100, candidate=0, mirror=True)
        await sim.advance(60)
        stable, candidate = await sim.metrics("chat", "stable"), await sim.metrics("chat", "candidate")
        routes = await sim.routes("chat")
        # Each read advances the traffic to its own moment, in this order: stable, candidate, routes.
        assert stable.requests > 50_000, stable.requests
        assert stable.requests <= candidate.requests <= routes["mirrored"], "one copy per request stable served"
        assert routes["mirror"] is True
        assert (await sim.calls("chat"))[-1]["mirror"] is True

        assert await sim.set_routes("chat", stable=100, candidate=0) == {"stable": 100.0, "candidate": 0.0}
        copies = (await sim.metrics("chat", "candidate")).requests
        await sim.advance(60)
        assert (await sim.metrics("chat", "candidate")).requests == copies, "off: no more copies"
        assert await sim.routes("chat") == {"stable": 100.0, "candidate": 0.0}

        response = await sim.client.put(sim.routes_url("chat"), json={"stable": 100, "candidate": 0, "mirror": "on"})
        assert response.status_code == 400 and "mirror" in response.json()["error"]
