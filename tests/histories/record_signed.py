"""Record a rollout under a signed policy for the replay test: ``python -m tests.histories.record_signed LABEL``.

Keys are generated for the recording and thrown away; the history keeps the public keys (in the policy the
``load_policy`` activity returned) and the signatures, so replay re-verifies every decision as it was made.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from simulator.testing import run_simulator
from tests.servers import dev_server
from tests.signing import make_person
from tests.workflows.helpers import rollout_worker, start_rollout, targeted_spec, wait_for_status
from tests.workflows.test_signed_approvals import signed_spec, signer, write_policy
from workers.cli.decisions import signed_payload
from workers.client import connect
from workers.settings import Settings

HERE = Path(__file__).resolve().parent


async def record(label: str) -> None:
    with tempfile.TemporaryDirectory() as data:
        keys = Path(data)
        alice, bob, carol = (make_person(keys, p) for p in ("alice", "bob", "carol"))
        policy = keys / "policy.json"
        (keys / "server").mkdir()
        async with dev_server(keys / "server") as server, run_simulator(knobs={"rps": 200000}) as sim:
            rules = {"approvers": ["bob", "carol"], "quorum": 2}
            write_policy(policy, [p.allowed() for p in (alice, bob, carol)], rules, sim)
            client = await connect(Settings(address=server.address))
            async with rollout_worker(client, "record", policy_path=policy):
                spec = targeted_spec(
                    sim,
                    "recorded-signed",
                    requested_by="alice",
                    steps=[{"weight": 10, "observe": "1s", "approval": True}, {"weight": 50, "observe": "1s"}],
                    approvals={"approvers": ["bob", "carol"], "quorum": 2},
                )
                handle = await start_rollout(client, signed_spec(spec, alice), "record")
                await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval")
                await handle.signal("approve", {"approver": "bob"})  # unsigned: refused, recorded
                for person in (bob, carol):
                    await handle.signal("approve", await signed_payload(handle, "approve", signer(person)))
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v3-signed-approvals"))
