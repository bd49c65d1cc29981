"""The ``unleash`` router against a real Unleash server on a real PostgreSQL, with a gateway on Unleash's Python SDK.

One Unleash serves the whole module (start-up runs its migrations: seconds); each test uses its own flag. What
is checked with real requests through the gateway: sticky users keep their version as the share grows, an
internal-users-only step exposes no one else, and abort (the kill switch) puts everyone on stable, verified.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.errors import ProviderRejected
from activities.routers.unleash import UnleashTrafficRouter
from models.activities import RouterState
from models.segments import HeaderSegment, RegionSegment, Segment
from models.spec import UnleashRouter
from simulator.flag_gateway import FlagGateway, run_flag_gateway
from simulator.testing import ModelServer, run_model_server, run_simulator
from simulator.unleash_proc import UnleashProcess, run_unleash
from tests.servers import DevServer
from tests.workflows.helpers import rollout_worker, start_rollout, status, unique_service, wait_until
from tests.workflows.test_signed_approvals import rollouts_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HEALTHY: dict[str, Any] = {"error_rate": 0.0, "latency_p50_ms": 1.0, "latency_p95_ms": 2.0}
INTERNAL = HeaderSegment.model_validate({"header": "X-User-Group", "in": ["internal"]})


@pytest.fixture(scope="module")
async def unleash() -> AsyncIterator[UnleashProcess]:
    async with run_unleash() as server:
        os.environ[server.token_env] = server.admin_token  # what the operators give the worker
        try:
            yield server
        finally:
            del os.environ[server.token_env]


@pytest.fixture(scope="module")
async def servers() -> AsyncIterator[tuple[ModelServer, ModelServer]]:
    async with (
        run_model_server(version="v1", seed=1, **HEALTHY) as stable,
        run_model_server(version="v2", seed=2, **HEALTHY) as candidate,
    ):
        yield stable, candidate


def new_flag() -> str:
    return f"candidate-{uuid.uuid4().hex[:8]}"


async def router(unleash: UnleashProcess, flag: str, http: httpx.AsyncClient) -> UnleashTrafficRouter:
    return UnleashTrafficRouter(UnleashRouter.model_validate(unleash.router_spec(flag=flag)), http)


def share(candidate: float, segments: list[Segment] | None = None) -> RouterState:
    return RouterState(stable=100.0 - candidate, candidate=candidate, segments=segments or [])


async def answered(gateway: FlagGateway, headers: list[dict[str, str]]) -> list[str]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        out = []
        for i, h in enumerate(headers):
            response = await client.post(gateway.answer_url, json={"prompt": f"p{i}"}, headers=h)
            out.append(response.json()["version"])
        return out


async def gateway_sees(gateway: FlagGateway, check: Callable[[], bool], what: str) -> None:
    """Wait until the SDK's poll has brought the flag's new state (the gateway evaluates locally)."""

    async def ready() -> bool:
        return check()

    await wait_until(ready, what=what)


async def test_steps_set_and_read_back_the_flag_and_zero_turns_it_off(unleash: UnleashProcess) -> None:
    async with httpx.AsyncClient() as http:
        r = await router(unleash, new_flag(), http)
        assert await r.read() == share(0), "a missing flag exposes no one"
        await r.apply(share(100, [INTERNAL]))
        assert await r.read() == share(100, [INTERNAL])
        await r.apply(share(25))
        assert await r.read() == share(25), "the segments of the last step are gone"
        await r.apply(share(25))
        assert await r.read() == share(25), "the same change twice: the same flag"
        region = RegionSegment(region=["eu-west", "eu-north"])
        await r.apply(share(10, [INTERNAL, region]))
        assert await r.read() == share(10, [INTERNAL, region])
        admin = {"Authorization": unleash.admin_token}
        url = f"{unleash.url}/api/admin/projects/default/features/{r._spec.flag}"
        assert (await http.get(url, headers=admin)).json()["stale"] is False
        await r.apply(share(100))
        assert await r.read() == share(100)
        assert (await http.get(url, headers=admin)).json()["stale"] is True, "promoted: marked for removal"
        await r.apply(share(0))
        assert await r.read() == share(0)
        flag = (await http.get(url, headers=admin)).json()
        assert flag["stale"] is False, "rolled back: not marked for removal, and off"
        env = next(e for e in flag["environments"] if e["name"] == "development")
        assert env["enabled"] is False, "rollback disables the flag"
        assert [s["parameters"]["rollout"] for s in env["strategies"]] == ["0"], "and leaves it at 0% for everyone"
        assert env["strategies"][0]["constraints"] == []
        with pytest.raises(ProviderRejected, match="whole percentage"):
            await r.apply(share(2.5))


async def test_a_missing_token_is_refused_naming_the_variable(unleash: UnleashProcess) -> None:
    async with httpx.AsyncClient() as http:
        spec = UnleashRouter.model_validate(unleash.router_spec(flag=new_flag(), token_env="NO_SUCH_UNLEASH_TOKEN"))
        with pytest.raises(ProviderRejected, match="NO_SUCH_UNLEASH_TOKEN"):
            await UnleashTrafficRouter(spec, http).apply(share(10))


async def test_through_the_sdk_gateway_internal_only_then_sticky_then_killed(
    unleash: UnleashProcess, servers: tuple[ModelServer, ModelServer]
) -> None:
    stable, candidate = servers
    flag = new_flag()
    users = [f"user-{i}" for i in range(200)]
    internal = [{"X-User-Id": u, "X-User-Group": "internal"} for u in users[:40]]
    others = [{"X-User-Id": u, "X-User-Group": "customer"} for u in users[40:]] + [{"X-User-Id": "anonymous"}]
    async with (
        httpx.AsyncClient() as http,
        run_flag_gateway(
            unleash_url=unleash.url,
            client_token=unleash.client_token,
            flag=flag,
            stable_url=stable.url,
            candidate_url=candidate.url,
        ) as gateway,
    ):
        r = await router(unleash, flag, http)
        await r.apply(share(100, [INTERNAL]))
        await gateway_sees(gateway, lambda: gateway.exposed(internal[0]), "the gateway sees the internal-only step")
        assert set(await answered(gateway, internal)) == {"v2"}, "every internal user gets the candidate"
        assert set(await answered(gateway, others)) == {"v1"}, "no one else does"

        everyone = [{"X-User-Id": u} for u in users]
        await r.apply(share(10))
        await gateway_sees(
            gateway, lambda: 5 <= sum(gateway.exposed(h) for h in everyone) <= 40, "the gateway sees 10% of everyone"
        )
        at_10 = await answered(gateway, everyone)
        await r.apply(share(50))
        await gateway_sees(
            gateway, lambda: sum(gateway.exposed(h) for h in everyone) >= 70, "the gateway sees 50% of everyone"
        )
        at_50 = await answered(gateway, everyone)
        on_10 = {u for u, v in zip(users, at_10, strict=True) if v == "v2"}
        on_50 = {u for u, v in zip(users, at_50, strict=True) if v == "v2"}
        assert 5 <= len(on_10) <= 40 and 70 <= len(on_50) <= 130, (len(on_10), len(on_50))
        assert on_10 <= on_50, "every user on the candidate at 10% is still on it at 50%"
        assert await answered(gateway, everyone[:20]) == at_50[:20], "a user keeps their version within a step"

        await r.apply(share(0))
        await gateway_sees(gateway, lambda: not any(gateway.exposed(h) for h in everyone), "the gateway sees the kill")
        assert set(await answered(gateway, everyone + internal)) == {"v1"}, "killed: everyone on stable"


async def test_a_rollout_with_an_internal_step_is_killed_to_stable_verified(
    client: Client,
    temporal_dev: DevServer,
    task_queue: str,
    tmp_path: Path,
    unleash: UnleashProcess,
    servers: tuple[ModelServer, ModelServer],
) -> None:
    stable, candidate = servers
    service = unique_service()
    flag = f"{service}-candidate"
    async with run_simulator() as sim:
        policy = {
            "default": {
                "approvers": ["*"],
                "allow_unsigned": True,
                "targets": {
                    "flags": {
                        "router": unleash.router_spec(flag="{service}-candidate"),
                        "metrics": {"kind": "http-json", "url": sim.metrics_url(service)},
                    }
                },
            }
        }
        policy_path = tmp_path / "policy.json"
        policy_path.write_text(json.dumps(policy))
        spec = {
            "service": service,
            "requested_by": "ml-engineer",
            "stable": {"version": "v1"},
            "candidate": {"version": "v2"},
            "target": "flags",
            "steps": [
                {"weight": 100, "observe": "1h", "segments": [{"header": "X-User-Group", "in": ["internal"]}]},
                {"weight": 10, "observe": "1h"},
            ],
            "analysis_interval": "1s",
            "criteria": {"min_requests": 1_000_000},  # routing is under test here, not the judge
        }
        async with (
            rollout_worker(client, task_queue, policy_path=policy_path),
            run_flag_gateway(
                unleash_url=unleash.url,
                client_token=unleash.client_token,
                flag=flag,
                stable_url=stable.url,
                candidate_url=candidate.url,
            ) as gateway,
        ):
            handle = await start_rollout(client, spec, task_queue)

            async def internal_step() -> bool:
                return (await status(handle)).weight == 100

            await wait_until(internal_step, what="step 1: every internal user")
            inside = {"X-User-Id": "alice", "X-User-Group": "internal"}
            await gateway_sees(gateway, lambda: gateway.exposed(inside), "the gateway sees step 1")
            customers = [{"X-User-Id": f"c{i}", "X-User-Group": "customer"} for i in range(100)]
            assert set(await answered(gateway, customers)) == {"v1"}, "no customer reaches the candidate"
            assert set(await answered(gateway, [inside])) == {"v2"}
            code, out, err = await rollouts_cli(
                "kill", service, "--reason", "e2e: kill switch", "--as", "sre-oncall", address=temporal_dev.address
            )
            assert code == 0, err
            assert "everyone on stable: the router confirmed candidate 0%" in out, out
            result = await handle.result()
            await gateway_sees(gateway, lambda: not gateway.exposed(inside), "the gateway sees the rollback")
            assert set(await answered(gateway, [inside, *customers[:20]])) == {"v1"}
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.router_verified is True
    assert record.flag == flag and f"**Feature flag:** `{flag}`" in result.markdown, "the record names the flag"
    assert "100% of X-User-Group in internal" in result.markdown, "and the segments of each step"
    async with httpx.AsyncClient() as http:
        assert await (await router(unleash, flag, http)).read() == share(0), "the flag is off"
