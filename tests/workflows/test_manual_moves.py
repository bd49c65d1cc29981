"""Manual moves on the dev server: ``rollouts skip`` and ``rollouts full`` signed by an overrider, under a strict
signed policy; unsigned ones and the requester's are refused and recorded; both moves are in the record and its
Markdown, and a ``full`` still ends with the strategy's watch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from simulator.testing import run_simulator
from tests.servers import DevServer
from tests.signing import make_person
from tests.workflows.helpers import (
    rollout_worker,
    start_rollout,
    status,
    targeted_spec,
    unique_service,
    wait_for_status,
)
from tests.workflows.test_signed_approvals import FAST, rollouts_cli, signed_spec, signer, write_policy
from workers.cli.decisions import signed_payload


async def refused(handle: WorkflowHandle[Any, Any], payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update("skip", payload, result_type=str)
    assert reason in str(failed.value.cause), failed.value.cause


STRATEGY: list[dict[str, Any]] = [
    {"kind": "canary", "weight": 10, "observe": "3s"},
    {"kind": "pause"},
    {"kind": "canary", "weight": 20, "observe": "3s"},
    {"kind": "pause"},
    {"kind": "watch", "duration": "3s"},
]


async def test_an_overrider_skips_and_goes_to_100_the_requester_and_unsigned_moves_are_refused(
    client: Client, temporal_dev: DevServer, task_queue: str, tmp_path: Path
) -> None:
    alice, bob = (make_person(tmp_path, p) for p in ("alice", "bob"))
    policy_file = tmp_path / "policy.json"
    service = unique_service()
    address = temporal_dev.address
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy_file):
        write_policy(policy_file, [alice.allowed(), bob.allowed()], {"approvers": ["bob"], "overriders": ["bob"]}, sim)
        spec = targeted_spec(sim, service, requested_by="alice", strategy=STRATEGY)
        del spec["steps"]
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        await wait_for_status(handle, lambda st: st.step == 2 and st.phase == "canary", what="the pause at step 2")

        # Unsigned, and signed by the requester: refused, recorded, nothing moves.
        await refused(handle, {"by": "bob", "to": 4, "reason": "unsigned"}, "signature: missing")
        own = await signed_payload(handle, "skip", signer(alice), text="mine", to=4)
        await refused(handle, own, "unauthorized: 'alice' requested this rollout")
        # A skip past the end is refused before the handler, naming the field.
        code, _, err = await rollouts_cli(
            "skip", handle.id, "--to", "9", "--key", str(bob.key), "--reason", "x", "--yes", address=address
        )
        assert code == 1 and "to: step 9 does not exist" in err, err
        # As a signal, a refusal is always kept, naming the field.
        await handle.signal("skip", {"by": "bob", "to": 9, "reason": "signal"})
        await wait_for_status(handle, lambda st: st.rejected_signals == 3, what="the refused skip signal recorded")
        assert (await status(handle)).step == 2

        code, out, err = await rollouts_cli(
            "skip",
            handle.id,
            "--to",
            "4",
            "--key",
            str(bob.key),
            "--reason",
            "20% adds nothing",
            "--yes",
            address=address,
        )
        assert code == 0 and "to step 4 accepted from bob" in out, err
        await wait_for_status(handle, lambda st: st.step == 4, what="the walk landed on step 4")
        code, out, err = await rollouts_cli(
            "full", handle.id, "--key", str(bob.key), "--reason", "hotfix", "--yes", address=address
        )
        assert code == 0 and "to 100% now accepted from bob" in out, err
        result = await handle.result()
        routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert routes["candidate"] == 100
    assert [(s.kind, s.weight) for s in record.steps] == [("canary", 10), ("pause", 10), ("pause", 10), ("watch", 100)]
    assert "watch passed" in [e.event for e in record.timeline], "full still ends with the strategy's watch"
    moves = [(m.decision, m.from_step, m.to_step, m.by, m.left_out, m.verified) for m in record.moves]
    assert moves == [("skip", 2, 4, "bob", [2, 3], True), ("full", 4, None, "bob", [4], True)]
    assert all(m.key and m.proof and m.made_at for m in record.moves)
    assert [(r.signal, r.by) for r in record.rejected_signals] == [("skip", "bob"), ("skip", "alice"), ("skip", "bob")]
    assert record.rejected_signals[2].reason.startswith("to: step 9 does not exist")
    assert "## Manual moves" in result.markdown
    assert "skip from step 2 to step 4 by bob (signed" in result.markdown
    assert "full from step 4 to 100% now by bob (signed" in result.markdown and ": hotfix (steps left out: 4;" in (
        result.markdown
    )
