"""The ``nginx`` router against a real nginx in front of two real model servers (no Temporal)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.errors import ProviderRejected
from activities.routers.nginx import _children
from models.activities import RouterState
from simulator.nginx_proc import NginxProcess, run_nginx
from simulator.stand import run_stand
from simulator.testing import run_model_server
from tests.e2e.helpers import stand_policy, stand_spec
from tests.workflows.helpers import rollout_worker, start_rollout, status, unique_service, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
async def nginx() -> AsyncIterator[NginxProcess]:
    async with (
        run_model_server(version="v1", seed=1) as stable,
        run_model_server(version="v2", seed=2) as candidate,
        run_nginx(stable_url=stable.url, candidate_url=candidate.url) as proc,
    ):
        yield proc


async def versions(nginx: NginxProcess, n: int, user: str | None = None) -> list[str]:
    headers = {"X-User-Id": user} if user is not None else {}
    async with httpx.AsyncClient(timeout=5.0) as client:
        return [
            (await client.post(nginx.answer_url, json={"prompt": f"p{i}"}, headers=headers)).json()["version"]
            for i in range(n)
        ]


def state(candidate: float) -> RouterState:
    return RouterState(stable=100.0 - candidate, candidate=candidate)


async def test_apply_reloads_and_read_reports_what_serves(nginx: NginxProcess) -> None:
    assert await nginx.set_weights(25) == state(25)
    assert "25.00% candidate;" in nginx.weights_path.read_text()
    served = await versions(nginx, 400)
    assert 60 < served.count("v2") < 140, "about a quarter of keyless requests reach the candidate"
    assert await nginx.set_weights(100) == state(100)
    assert set(await versions(nginx, 50)) == {"v2"}
    assert await nginx.set_weights(0) == state(0)
    assert set(await versions(nginx, 50)) == {"v1"}


async def test_same_weights_twice_is_a_no_op(nginx: NginxProcess) -> None:
    await nginx.set_weights(10)
    pid = int(nginx.pid_file.read_text())
    workers = _children(pid)
    before = nginx.weights_path.stat().st_mtime_ns
    assert await nginx.set_weights(10) == state(10)
    assert _children(pid) == workers, "no reload when nginx already serves these weights"
    assert nginx.weights_path.stat().st_mtime_ns == before


async def test_sticky_user_keeps_its_version(nginx: NginxProcess) -> None:
    await nginx.set_weights(25)
    seen = {}
    for user in (f"user-{i}" for i in range(20)):
        got = set(await versions(nginx, 10, user=user))
        assert len(got) == 1, (user, got)
        seen[user] = got.pop()
    assert set(seen.values()) == {"v1", "v2"}, "20 users at 25% split between both versions"


async def test_failed_nginx_test_restores_the_file_and_nginx_keeps_serving(nginx: NginxProcess) -> None:
    await nginx.set_weights(10)
    good = nginx.weights_path.read_bytes()
    conf = nginx.conf_path.read_text()
    nginx.conf_path.write_text(conf + "\nthis is not nginx;\n")  # an outside hand breaks the main config
    with pytest.raises(ProviderRejected) as refused:
        await nginx.set_weights(50)
    message = str(refused.value)
    assert "nginx -t refused" in message
    assert "[emerg]" in message
    assert "previous file restored" in message
    assert nginx.weights_path.read_bytes() == good
    assert await nginx.router().read() == state(10), "the old configuration still serves"
    assert set(await versions(nginx, 20)) <= {"v1", "v2"}
    nginx.conf_path.write_text(conf)
    assert await nginx.set_weights(50) == state(50)


async def test_hand_edited_include_blocks_forward_moves_but_not_rollback(nginx: NginxProcess) -> None:
    await nginx.set_weights(25)
    nginx.weights_path.write_text("split_clients oops {\n")  # invalid, written by someone else
    with pytest.raises(ProviderRejected) as refused:
        await nginx.set_weights(50)
    message = str(refused.value)
    assert "changed outside the rollout" in message
    assert "nginx -t fails on it" in message
    assert nginx.weights_path.read_text() == "split_clients oops {\n", "a forward move never overwrites it"
    assert await nginx.set_weights(0) == state(0), "rollback rewrites a valid file"
    assert set(await versions(nginx, 100)) == {"v1"}


async def test_without_verify_url_the_new_worker_generation_is_the_proof(nginx: NginxProcess) -> None:
    router = nginx.router(verify_url=None)
    pid = int(nginx.pid_file.read_text())
    old = _children(pid)
    await router.apply(state(40))
    assert _children(pid) - old, "a new generation of workers serves"
    assert await router.read() == state(40)
    async with httpx.AsyncClient() as client:
        assert "candidate=40.00" in (await client.get(nginx.weights_url)).text


async def test_weights_nginx_cannot_express_are_refused(nginx: NginxProcess) -> None:
    with pytest.raises(ProviderRejected, match="two decimals"):
        await nginx.router().apply(state(33.333))


async def test_reload_by_nginx_signal_when_no_pid_file(nginx: NginxProcess) -> None:
    router = nginx.router(pid_file=None)
    await router.apply(state(5))
    assert await router.read() == state(5)


# ---------------------------------------------------------------- targeting: segments as maps in the include

INTERNAL: dict[str, Any] = {"header": "X-User-Group", "in": ["internal"]}


async def grouped(nginx: NginxProcess, users: int, **headers: str) -> Counter[str]:
    """Which version answered one request from each of ``users`` users sending ``headers``."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        seen: Counter[str] = Counter()
        for i in range(users):
            response = await client.post(
                nginx.answer_url, json={"prompt": "p"}, headers={"X-User-Id": f"user-{i}", **headers}
            )
            seen[response.json()["version"]] += 1
        return seen


def targeted(candidate: float, *segments: dict[str, Any]) -> RouterState:
    return RouterState.model_validate({"stable": 100 - candidate, "candidate": candidate, "segments": list(segments)})


async def test_internal_users_get_the_candidate_share_and_no_one_else(nginx: NginxProcess) -> None:
    assert await nginx.set_weights(100, [INTERNAL]) == targeted(100, INTERNAL)
    assert await grouped(nginx, 30, **{"X-User-Group": "internal"}) == {"v2": 30}
    assert await grouped(nginx, 30, **{"X-User-Group": "Internal"}) == {"v1": 30}, "exact, case-sensitive"
    assert await grouped(nginx, 30, **{"X-User-Group": "internal-2"}) == {"v1": 30}, "anchored"
    assert await grouped(nginx, 30) == {"v1": 30}, "no group header: outside the segment"

    both = [INTERNAL, {"region": ["eu-west"]}]
    assert await nginx.set_weights(50, both) == targeted(50, *both)
    half = await grouped(nginx, 200, **{"X-User-Group": "internal", "X-Region": "eu-west"})
    assert 60 < half["v2"] < 140, f"about half of 200 internal users in eu-west: {half}"
    assert await grouped(nginx, 40, **{"X-User-Group": "internal", "X-Region": "us-east"}) == {"v1": 40}

    assert await nginx.set_weights(10) == state(10), "a step for everyone drops the segments"
    everyone = await grouped(nginx, 300, **{"X-User-Group": "external"})
    assert 10 < everyone["v2"] < 60, f"about 10% of users outside the segment now: {everyone}"
    await nginx.set_weights(100, [INTERNAL])
    assert await nginx.set_weights(0) == state(0), "rollback: stable for everyone, no segments left"
    assert "http_x_user_group" not in nginx.weights_path.read_text()
    assert await grouped(nginx, 30, **{"X-User-Group": "internal"}) == {"v1": 30}


async def test_a_rollout_with_an_internal_step_on_nginx_exposes_no_one_else_and_abort_clears_it(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    healthy = {"error_rate": 0.0, "latency_p50_ms": 1.0, "latency_p95_ms": 2.0}
    async with (
        run_stand(stable=healthy, candidate=healthy) as stand,
        rollout_worker(client, task_queue, policy_path=stand_policy(stand, tmp_path)),
    ):
        never_decides = {"min_requests": 1_000_000}  # routing is under test here, not the judge
        steps = [{"weight": 100, "observe": "1h", "segments": [INTERNAL]}, {"weight": 10, "observe": "1h"}]
        spec = stand_spec(stand, service, steps=steps, criteria=never_decides)
        handle = await start_rollout(client, spec, task_queue)

        async def at_internal() -> bool:
            return (await status(handle)).weight == 100

        await wait_until(at_internal, what="step 1: every internal user")
        internal = await grouped(stand.nginx, 30, **{"X-User-Group": "internal"})
        others = await grouped(stand.nginx, 60, **{"X-User-Group": "external"})
        await handle.execute_update("abort", {"by": "sre-oncall", "reason": "e2e: kill switch"})
        result = await handle.result()
        after = await grouped(stand.nginx, 30, **{"X-User-Group": "internal"})
    assert internal == {"v2": 30} and others == {"v1": 60}, (internal, others)
    assert result.record.outcome == "rolled_back" and result.record.rollback is not None
    assert result.record.rollback.router_verified is True
    assert "100% of X-User-Group in internal" in result.markdown
    assert after == {"v1": 30}
