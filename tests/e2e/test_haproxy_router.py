"""The ``haproxy`` router against a real HAProxy in front of two real model servers, then whole rollouts on it.

The first tests need no Temporal: weights over the admin socket without a reload, the split real requests see,
sticky users, a restart that comes back with the rollout's weights, and the errors. The last two run the Rollout
workflow on the dev server with the stand's HAProxy as a target of a lab policy.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.errors import ProviderRejected, ProviderUnavailable
from activities.routers.haproxy import state_weights
from models.activities import RouterState
from simulator.haproxy_proc import HaproxyProcess, run_haproxy
from simulator.stand import run_stand
from simulator.testing import run_model_server
from tests.e2e.helpers import background_load, override_when_held, routed_versions, stand_policy, stand_spec
from tests.workflows.helpers import rollout_worker, start_rollout, status, unique_service, wait_until

pytestmark = pytest.mark.e2e

HEALTHY: dict[str, Any] = {"error_rate": 0.0, "latency_p50_ms": 1.0, "latency_p95_ms": 2.0}
"""Fast servers without errors: these tests count who answers, so every request must answer."""


@pytest.fixture
async def haproxy() -> AsyncIterator[HaproxyProcess]:
    async with (
        run_model_server(version="v1", seed=1, **HEALTHY) as stable,
        run_model_server(version="v2", seed=2, **HEALTHY) as candidate,
        run_haproxy(stable_url=stable.url, candidate_url=candidate.url) as proc,
    ):
        yield proc


async def versions(haproxy: HaproxyProcess, users: list[str | None]) -> list[str]:
    """The version that answered one request per entry of ``users`` (None: a request without X-User-Id)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        out = []
        for i, user in enumerate(users):
            headers = {"X-User-Id": user} if user is not None else {}
            response = await client.post(haproxy.answer_url, json={"prompt": f"p{i}"}, headers=headers)
            out.append(response.json()["version"])
        return out


async def admin(haproxy: HaproxyProcess, line: str) -> str:
    reader, writer = await asyncio.open_unix_connection(str(haproxy.socket_path))
    writer.write(line.encode() + b"\n")
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer.decode()


def state(candidate: float) -> RouterState:
    return RouterState(stable=100.0 - candidate, candidate=candidate)


async def test_weights_move_over_the_admin_socket_without_a_reload(haproxy: HaproxyProcess) -> None:
    pid = haproxy.pid
    info_before = await admin(haproxy, "show info")
    assert await haproxy.router().read() == state(0), "the configuration starts with stable at 100%"
    assert await haproxy.set_weights(25) == state(25)
    assert "50 (initial 0)" in await admin(haproxy, "get weight rollout/candidate")
    assert await haproxy.set_weights(25) == state(25), "the same weights twice: the same state"
    assert await haproxy.set_weights(100) == state(100)
    assert set(await versions(haproxy, [None] * 30)) == {"v2"}
    assert await haproxy.set_weights(0) == state(0)
    assert set(await versions(haproxy, [None] * 30)) == {"v1"}
    assert haproxy.pid == pid, "the same HAProxy process served throughout"
    assert haproxy.process is not None and haproxy.process.returncode is None
    info_after = await admin(haproxy, "show info")
    pid_line = next(line for line in info_before.splitlines() if line.startswith("Pid:"))
    assert pid_line in info_after.splitlines(), "HAProxy's own pid is unchanged: no reload, no re-exec"


async def test_real_requests_split_as_the_weights_say(haproxy: HaproxyProcess) -> None:
    await haproxy.set_weights(25)
    keyless = Counter(await versions(haproxy, [None] * 400))
    assert 60 < keyless["v2"] < 140, f"about a quarter of requests without a user id reach the candidate: {keyless}"
    users = Counter(await versions(haproxy, [f"user-{i}" for i in range(400)]))
    assert 50 < users["v2"] < 150, f"about a quarter of 400 users reach the candidate: {users}"


async def test_sticky_users_keep_their_version_from_10_to_50_percent(haproxy: HaproxyProcess) -> None:
    users = [f"user-{i}" for i in range(200)]

    async def each_user() -> dict[str, str]:
        seen: dict[str, str] = {}
        answers = await versions(haproxy, [user for user in users for _ in range(3)])
        for i, user in enumerate(users):
            got = set(answers[3 * i : 3 * i + 3])
            assert len(got) == 1, f"{user} reached {got} within one step"
            seen[user] = got.pop()
        return seen

    await haproxy.set_weights(10)
    at_10 = await each_user()
    await haproxy.set_weights(50)
    at_50 = await each_user()
    on_candidate_10 = {u for u, v in at_10.items() if v == "v2"}
    on_candidate_50 = {u for u, v in at_50.items() if v == "v2"}
    assert 5 <= len(on_candidate_10) <= 40, f"about 10% of 200 users: {len(on_candidate_10)}"
    assert 70 <= len(on_candidate_50) <= 130, f"about 50% of 200 users: {len(on_candidate_50)}"
    assert on_candidate_10 <= on_candidate_50, "every user on the candidate at 10% is still on it at 50%"
    stable_50 = set(users) - on_candidate_50
    assert all(at_10[u] == "v1" for u in stable_50), "a user on stable at 50% was on stable at 10% too"


async def test_sticky_by_cookie_keeps_users_on_their_version() -> None:
    async with (
        run_model_server(version="v1", seed=1, **HEALTHY) as stable,
        run_model_server(version="v2", seed=2, **HEALTHY) as candidate,
        run_haproxy(
            stable_url=stable.url, candidate_url=candidate.url, sticky={"by": "cookie", "name": "uid"}
        ) as haproxy,
    ):
        assert await haproxy.set_weights(30) == state(30)
        seen: dict[str, set[str]] = {}
        async with httpx.AsyncClient(timeout=5.0) as client:
            for i in range(60):
                user = f"user-{i}"
                for _ in range(3):
                    response = await client.post(
                        haproxy.answer_url, json={"prompt": "p"}, headers={"Cookie": f"theme=dark; uid={user}"}
                    )
                    seen.setdefault(user, set()).add(response.json()["version"])
    assert all(len(got) == 1 for got in seen.values()), {u: v for u, v in seen.items() if len(v) > 1}
    on_candidate = sum(1 for got in seen.values() if got == {"v2"})
    assert 5 <= on_candidate <= 35, f"about 30% of 60 users by their uid cookie: {on_candidate}"


async def test_a_restart_comes_back_with_the_rollouts_weights(haproxy: HaproxyProcess) -> None:
    await haproxy.set_weights(30)
    dump = haproxy.state_file.read_text()
    assert state_weights(dump, "rollout", ("stable", "candidate")) == (140, 60), dump
    before = haproxy.pid
    await haproxy.restart()
    assert haproxy.pid != before, "a new HAProxy process"
    assert await haproxy.router().read() == state(30), "the state file, not the configuration, set the weights"
    split = Counter(await versions(haproxy, [None] * 300))
    assert 55 < split["v2"] < 125, f"about 30% of requests reach the candidate after the restart: {split}"
    assert await haproxy.set_weights(0) == state(0), "the rollout moves it on as before"
    await haproxy.restart()
    assert await haproxy.router().read() == state(0)
    assert set(await versions(haproxy, [None] * 30)) == {"v1"}


async def test_shares_haproxy_cannot_express_are_refused(haproxy: HaproxyProcess) -> None:
    with pytest.raises(ProviderRejected, match=r"steps of 0\.5"):
        await haproxy.router().apply(state(33.3))
    assert await haproxy.set_weights(2.5) == state(2.5), "half a percent is expressed exactly"


async def test_unknown_backend_or_server_is_rejected_with_haproxys_answer(haproxy: HaproxyProcess) -> None:
    with pytest.raises(ProviderRejected, match="No such backend"):
        await haproxy.router(backend="elsewhere").apply(state(10))
    with pytest.raises(ProviderRejected, match="No such server"):
        await haproxy.router(candidate_server="canary").read()
    assert await haproxy.router().read() == state(0), "nothing moved"


async def test_a_state_file_in_a_missing_folder_is_rejected_before_any_move(
    haproxy: HaproxyProcess, tmp_path: Path
) -> None:
    with pytest.raises(ProviderRejected, match="cannot open the lock file"):
        await haproxy.router(state_file=str(tmp_path / "missing" / "rollout.state")).apply(state(10))
    assert await haproxy.router().read() == state(0), "nothing moved"


async def test_a_socket_below_level_admin_is_rejected_naming_the_level(haproxy: HaproxyProcess) -> None:
    conf = haproxy.conf_path.read_text()
    haproxy.conf_path.write_text(conf.replace("level admin", "level operator"))
    await haproxy.restart()
    with pytest.raises(ProviderRejected, match="needs level admin"):
        await haproxy.router().apply(state(10))
    assert await haproxy.router().read() == state(0), "get weight works at level operator; nothing moved"


async def test_haproxy_down_is_unavailable_and_retried_later(haproxy: HaproxyProcess) -> None:
    await haproxy.set_weights(20)
    await haproxy.stop()
    with pytest.raises(ProviderUnavailable, match="admin socket"):
        await haproxy.router().apply(state(40))
    await haproxy.start()
    assert await haproxy.router().read() == state(20), "the last weights that were set and persisted"
    assert await haproxy.set_weights(40) == state(40), "the retry succeeds once HAProxy is back"


# ---------------------------------------------------------------- targeting: segments as runtime maps

INTERNAL: dict[str, Any] = {"header": "X-User-Group", "in": ["internal"]}


async def grouped(url: str, users: int, **headers: str) -> Counter[str]:
    """Which version answered one request from each of ``users`` users sending ``headers``."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        seen: Counter[str] = Counter()
        for i in range(users):
            response = await client.post(url, json={"prompt": "p"}, headers={"X-User-Id": f"user-{i}", **headers})
            seen[response.json()["version"]] += 1
        return seen


def targeted(candidate: float, *segments: dict[str, Any]) -> RouterState:
    return RouterState.model_validate({"stable": 100 - candidate, "candidate": candidate, "segments": list(segments)})


async def test_internal_users_get_the_candidate_share_and_no_one_else(haproxy: HaproxyProcess) -> None:
    pid = haproxy.pid
    assert await haproxy.set_weights(100, [INTERNAL]) == targeted(100, INTERNAL)
    assert await grouped(haproxy.answer_url, 40, **{"X-User-Group": "internal"}) == {"v2": 40}
    assert await grouped(haproxy.answer_url, 40, **{"X-User-Group": "external"}) == {"v1": 40}
    assert await grouped(haproxy.answer_url, 40) == {"v1": 40}, "no group header: outside the segment"
    assert await grouped(haproxy.answer_url, 20, **{"X-User-Group": ".targeted"}) == {"v1": 20}, "not the marker"
    assert "internal match" in (haproxy.folder / "user-group.map").read_text()

    assert await haproxy.set_weights(50, [INTERNAL]) == targeted(50, INTERNAL)
    half = await grouped(haproxy.answer_url, 200, **{"X-User-Group": "internal"})
    assert 60 < half["v2"] < 140, f"about half of 200 internal users: {half}"
    assert await grouped(haproxy.answer_url, 60, **{"X-User-Group": "external"}) == {"v1": 60}

    both = [INTERNAL, {"region": ["eu-west"]}]
    assert await haproxy.set_weights(100, both) == targeted(100, *both)
    assert await grouped(haproxy.answer_url, 20, **{"X-User-Group": "internal", "X-Region": "eu-west"}) == {"v2": 20}
    assert await grouped(haproxy.answer_url, 20, **{"X-User-Group": "internal", "X-Region": "us-east"}) == {"v1": 20}
    assert haproxy.pid == pid, "segments changed without a reload"


async def test_a_restart_comes_back_with_the_segments_and_rollback_clears_them(haproxy: HaproxyProcess) -> None:
    await haproxy.set_weights(100, [{"region": ["eu-west"]}])
    await haproxy.restart()
    assert await haproxy.router().read() == targeted(100, {"region": ["eu-west"]}), "the map files, read at start"
    assert await grouped(haproxy.answer_url, 20, **{"X-Region": "eu-west"}) == {"v2": 20}
    assert await grouped(haproxy.answer_url, 20, **{"X-Region": "us-east"}) == {"v1": 20}

    widened = await haproxy.set_weights(10)
    assert widened == state(10), "a step for everyone clears the segments"
    everyone = await grouped(haproxy.answer_url, 300, **{"X-Region": "us-east"})
    assert 10 < everyone["v2"] < 60, f"about 10% of users outside eu-west now: {everyone}"

    await haproxy.set_weights(100, [INTERNAL])
    assert await haproxy.set_weights(0) == state(0), "rollback: stable everywhere, no segments left"
    for name in ("user-group.map", "region.map"):
        assert "match" not in (haproxy.folder / name).read_text(), name
    await haproxy.restart()
    assert await haproxy.router().read() == state(0)
    assert await grouped(haproxy.answer_url, 30, **{"X-User-Group": "internal"}) == {"v1": 30}


async def test_segments_the_maps_cannot_express_are_refused_before_anything_moves(haproxy: HaproxyProcess) -> None:
    with pytest.raises(ProviderRejected, match="no runtime map for the X-Plan header"):
        await haproxy.router().apply(targeted(50, {"header": "X-Plan", "in": ["pro"]}))
    await admin(haproxy, f"add map {haproxy.folder / 'user-group.map'} intruder yes")
    with pytest.raises(ProviderRejected, match="entries the router does not write"):
        await haproxy.router().read()
    assert await haproxy.router(segment_maps={}).read() == state(0), "nothing moved"
    assert await haproxy.set_weights(0) == state(0), "a move to stable rewrites a map it did not write"
    assert "intruder" not in await admin(haproxy, f"show map {haproxy.folder / 'user-group.map'}")


# ---------------------------------------------------------------- rollouts through the Rollout workflow


async def test_rollout_on_a_haproxy_target_promotes_and_serves_the_candidate(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with (
        run_stand(router="haproxy", stable=HEALTHY, candidate=HEALTHY) as stand,
        rollout_worker(client, task_queue, policy_path=stand_policy(stand, tmp_path)),
    ):
        assert stand.haproxy is not None
        pid = stand.haproxy.pid
        async with background_load(stand):
            handle = await start_rollout(client, stand_spec(stand, service), task_queue)
            async with override_when_held(handle, "e2e: seconds of traffic cannot prove the criteria"):
                result = await handle.result()
        after = await routed_versions(stand, 200)
        persisted = state_weights(stand.haproxy.state_file.read_text(), "rollout", ("stable", "candidate"))
        assert stand.haproxy.pid == pid, "every step moved weights without a reload or restart"
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert record.policy is not None and record.policy.target == "stand"
    assert [s.weight for s in record.steps] == [20, 50]
    assert all(s.candidate_requests >= 150 for s in record.steps), "the judge saw real traffic through HAProxy"
    assert set(after) == {"v2"}, "200 requests after promotion all answered by the candidate"
    assert persisted == (0, 200), "the state file holds the promoted weights for the next restart"


async def test_aborted_rollout_survives_a_restart_mid_step_and_ends_on_stable_verified(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with (
        run_stand(router="haproxy", stable=HEALTHY, candidate=HEALTHY) as stand,
        rollout_worker(client, task_queue, policy_path=stand_policy(stand, tmp_path)),
    ):
        assert stand.haproxy is not None
        never_decides = {"min_requests": 1_000_000}  # routing is under test here, not the judge
        spec = stand_spec(stand, service, steps=[{"weight": 25, "observe": "1h"}], criteria=never_decides)
        handle = await start_rollout(client, spec, task_queue)

        async def at_25() -> bool:
            return (await status(handle)).weight == 25

        await wait_until(at_25, what="step 1 at 25%")
        await stand.haproxy.restart()
        after_restart = await stand.haproxy.router().read()
        split = Counter(await routed_versions(stand, 300))
        await handle.execute_update("abort", {"by": "sre-oncall", "reason": "e2e: kill switch"})
        result = await handle.result()
        after = await routed_versions(stand, 200)
        final = await stand.haproxy.router().read()
        persisted = state_weights(stand.haproxy.state_file.read_text(), "rollout", ("stable", "candidate"))
    assert after_restart == state(25), "the restarted HAProxy came back with the rollout's weights"
    assert 40 < split["v2"] < 115, f"about a quarter of requests reach the candidate after the restart: {split}"
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None
    assert record.rollback.cause == "abort"
    assert record.rollback.router_verified is True
    assert final == state(0)
    assert persisted == (200, 0), "a restart after the abort would keep stable at 100%"
    assert set(after) == {"v1"}, "200 requests after the abort all answered by stable"


async def test_an_internal_users_step_exposes_no_one_else_and_abort_clears_it(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with (
        run_stand(router="haproxy", stable=HEALTHY, candidate=HEALTHY) as stand,
        rollout_worker(client, task_queue, policy_path=stand_policy(stand, tmp_path)),
    ):
        assert stand.haproxy is not None
        never_decides = {"min_requests": 1_000_000}  # routing is under test here, not the judge
        steps = [{"weight": 100, "observe": "1h", "segments": [INTERNAL]}, {"weight": 10, "observe": "1h"}]
        spec = stand_spec(stand, service, steps=steps, criteria=never_decides)
        handle = await start_rollout(client, spec, task_queue)

        async def at_internal() -> bool:
            return (await status(handle)).weight == 100

        await wait_until(at_internal, what="step 1: every internal user")
        internal = await grouped(stand.answer_url, 40, **{"X-User-Group": "internal"})
        others = await grouped(stand.answer_url, 80, **{"X-User-Group": "external"})
        anonymous = await grouped(stand.answer_url, 40)
        await handle.execute_update("abort", {"by": "sre-oncall", "reason": "e2e: kill switch"})
        result = await handle.result()
        after = await grouped(stand.answer_url, 40, **{"X-User-Group": "internal"})
        final = await stand.haproxy.router().read()
        group_map = (stand.haproxy.folder / "user-group.map").read_text()
    assert internal == {"v2": 40}, "every internal user on the candidate"
    assert others == {"v1": 80} and anonymous == {"v1": 40}, "no one outside the segment reached it"
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.router_verified is True
    assert [s.model_dump(mode="json") for s in record.steps[0].segments] == [INTERNAL], "the record names them"
    assert "100% of X-User-Group in internal" in result.markdown
    assert record.flag is None, "no feature flag on HAProxy"
    assert final == state(0) and "match" not in group_map, "the abort cleared the segment map"
    assert after == {"v1": 40}, "internal users are back on stable"
