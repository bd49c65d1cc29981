"""Record histories of real rollouts for the replay test: ``python -m tests.histories.record LABEL``.

Files are named ``LABEL--WORKFLOW_ID.json``: replay needs the workflow id, which the events do not hold.

Run it whenever the workflow's behaviour changes on purpose (behind ``workflow.patched``), and commit the new
JSON beside the old ones: the old files prove that rollouts started before the change still replay.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.servers import dev_server
from tests.workflows.helpers import (
    SIM_TARGET,
    rollout_worker,
    start_rollout,
    status,
    targeted_spec,
    wait_until,
    webhook_receiver,
)
from workers.client import connect
from workers.settings import Settings

HERE = Path(__file__).resolve().parent
FROZEN = "frozen"
"""The recorder's target with the eval suite and a freeze (issue 22)."""
REPLAY = HERE.parents[1] / "docs" / "examples" / "support-requests.jsonl"
SECRET_ENV = "ROLLOUTS_RECORD_WEBHOOK_SECRET"
CUSTOM_METRICS = {"refusals": {"kind": "rate", "limit": 1.5}, "critical_errors": {"kind": "count", "limit": 0}}
"""Since the custom-metrics patch: the operators' custom metrics on the recorder's target (scenario 6)."""


async def record(label: str) -> None:
    with tempfile.TemporaryDirectory() as data:
        async with (
            dev_server(Path(data)) as server,
            run_simulator(knobs={"rps": 200000}) as sim,
            webhook_receiver() as (hook_url, _),
        ):
            client = await connect(Settings(address=server.address))
            # The operators' side: the simulator as the target "sim", with the support requests as a replay set;
            # since the notifications patch, two webhooks (signed JSON, Slack) and a short recovery watch, so the
            # histories hold deliveries and the watch after the abort's rollback.
            os.environ.setdefault(SECRET_ENV, "recorder-secret")
            # Since watch-release-hook, the target's release hook (the receiver) frees the old version after a watch.
            target = {
                **sim.target(),
                "replay_sets": {"support": str(REPLAY)},
                "custom_metrics": CUSTOM_METRICS,
                "release_hook": {"url": f"{hook_url}/release"},
            }
            # Since issue 22, a second target with the eval suite and a freeze that lasts beyond the recording.
            now = datetime.now(UTC)
            freeze = {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(days=7)).isoformat()}
            policy = write_lab_policy(
                Path(data) / "policy.json",
                {SIM_TARGET: target, FROZEN: sim.eval_target()},
                deploy_windows={FROZEN: {"freezes": [{**freeze, "reason": "recorded freeze"}]}},
                notifications=[
                    {"url": f"{hook_url}/json", "format": "json", "secret_env": SECRET_ENV},
                    {"url": f"{hook_url}/slack", "format": "slack"},
                ],
                recovery={"watch": "5s", "min_requests": 1000},
            )
            async with rollout_worker(client, "record", policy_path=policy) as _:
                # 1. Promotion through shadow, an approval step and operator signals (rejected ones included).
                spec = targeted_spec(
                    sim,
                    "recorded-promote",
                    shadow={
                        "replay": "support",
                        "max_requests": 20,
                        "compare": {"kind": "json-fields", "fields": ["answer"]},
                    },
                    steps=[{"weight": 10, "observe": "2s", "approval": True}, {"weight": 50, "observe": "2s"}],
                    approvals={"approvers": ["ml-lead", "sre-oncall", "product-owner"], "quorum": 2},
                )
                handle = await start_rollout(client, spec, "record")

                async def awaiting() -> bool:
                    return (await status(handle)).phase == "awaiting_approval"

                await wait_until(awaiting, what="approval phase")
                await handle.signal("approve", {"approver": "ml-engineer"})
                await handle.signal("approve", {"approver": "intruder"})
                await handle.signal("approve", {"approver": "ml-lead", "comment": "dashboards look fine"})
                await handle.signal("approve", {"approver": "ml-lead"})
                await handle.signal("pause", "not an object")
                await handle.signal("approve", {"approver": "sre-oncall"})
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())

                # 2. Abort in the middle of observation.
                # Stable's traffic before the rollout: the baseline its recovery watch compares with.
                await sim.metrics("recorded-abort", sim.stable_version)
                await sim.advance(60)
                spec = targeted_spec(sim, "recorded-abort", steps=[{"weight": 10, "observe": "1h"}])
                handle = await start_rollout(client, spec, "record")

                async def observing() -> bool:
                    return (await status(handle)).weight == 10

                await wait_until(observing, what="step 1")
                await handle.signal("pause", {"by": "sre-oncall"})
                await handle.signal("abort", {"by": "sre-oncall", "reason": "p95 spike"})
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())

                # 3. The eval gate, then a step and the promotion inside a freeze, each moved on by an override.
                spec = targeted_spec(
                    sim,
                    "recorded-windows",
                    target=FROZEN,
                    eval={"suite": "support", "concurrency": 4},
                    steps=[{"weight": 10, "observe": "2s"}],
                    approvals={"approvers": ["release-manager"]},
                )
                handle = await start_rollout(client, spec, "record")
                for weight in (0, 10):

                    async def waiting(weight: float = weight) -> bool:
                        now = await status(handle)
                        return now.waiting_for_window is not None and now.weight == weight

                    await wait_until(waiting, what=f"the window wait at {weight}%")
                    await handle.execute_update("promote", {"approver": "release-manager", "reason": "fix"})
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())

                # 4. Since issue 20, a strategy: canary, analysis, a pause ended by a promote, canary, watch.
                spec = targeted_spec(
                    sim,
                    "recorded-strategy",
                    strategy=[
                        {"kind": "canary", "weight": 10, "observe": "2s"},
                        {"kind": "analysis", "duration": "2s"},
                        {"kind": "pause"},
                        {"kind": "canary", "weight": 50, "observe": "2s"},
                        {"kind": "watch", "duration": "2s"},
                    ],
                    approvals={"approvers": ["release-manager"]},
                )
                del spec["steps"]
                handle = await start_rollout(client, spec, "record")

                async def pausing() -> bool:
                    return (await status(handle)).step == 3

                await wait_until(pausing, what="the pause")
                await handle.execute_update("promote", {"approver": "release-manager", "reason": "dashboards fine"})
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())

                # 5. A blue-green: the idle candidate previewed by the shadow comparison, one cutover, a watch.
                spec = targeted_spec(
                    sim,
                    "recorded-blue-green",
                    shadow={
                        "replay": "support",
                        "max_requests": 20,
                        "compare": {"kind": "json-fields", "fields": ["answer"]},
                    },
                    strategy=[{"kind": "blue_green"}, {"kind": "watch", "duration": "2s"}],
                )
                del spec["steps"]
                handle = await start_rollout(client, spec, "record")
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())

                # 6. Since custom-metrics: a custom rate judged inside alpha and a count's ceiling, promoted.
                for version in (sim.stable_version, sim.candidate_version):
                    await sim.set_knobs(version, events={"refusals": 0.02, "critical_errors": 0.0})
                criteria = {"min_requests": 5000, "custom": [{"metric": "refusals"}, {"metric": "critical_errors"}]}
                handle = await start_rollout(client, targeted_spec(sim, "recorded-custom", criteria=criteria), "record")
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())

                # 7. Since the manual-moves patch: a skip from a pause to a later one, then 100% now, then the watch.
                spec = targeted_spec(
                    sim,
                    "recorded-moves",
                    strategy=[
                        {"kind": "canary", "weight": 10, "observe": "2s"},
                        {"kind": "pause"},
                        {"kind": "canary", "weight": 20, "observe": "2s"},
                        {"kind": "pause"},
                        {"kind": "watch", "duration": "2s"},
                    ],
                    approvals={"approvers": ["release-manager"]},
                )
                del spec["steps"]
                handle = await start_rollout(client, spec, "record")
                for step in (2, 4):

                    async def at_step(step: int = step) -> bool:
                        return (await status(handle)).step == step

                    await wait_until(at_step, what=f"step {step}")
                    if step == 2:
                        await handle.execute_update("skip", {"by": "release-manager", "to": 4, "reason": "no need"})
                    else:
                        await handle.execute_update("full", {"by": "release-manager", "reason": "hotfix"})
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())

                # 8. A mirror of live traffic, a canary, then an A/B test that goes on unless worse, promoted.
                spec = targeted_spec(
                    sim,
                    "recorded-mirror-ab",
                    strategy=[
                        {"kind": "shadow", "mode": "mirror", "duration": "2s"},
                        {"kind": "canary", "weight": 10, "observe": "2s"},
                        {"kind": "ab_test", "share": 50, "duration": "3s", "on_no_winner": "promote_unless_worse"},
                    ],
                )
                del spec["steps"]
                handle = await start_rollout(client, spec, "record")
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v1"))
