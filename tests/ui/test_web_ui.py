"""The Web UI of the dev server, in headless Chromium: an operator sees the story without opening a payload.

One rollout waits for approval, one rolled back on a regression; the list shows phase, weight and outcome
columns, and each detail page shows the phase, the weight, the missing approvals with the deadline, and the
rollback cause. The screenshots land in the test's directory, or in docs/images/ (used by docs/ui-tour.md)
when ``UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from models.validation import validate_spec
from simulator.procs import free_port
from simulator.testing import run_simulator
from tests.servers import dev_server
from tests.ui.cdp import Page, chromium
from tests.workflows.helpers import compressed_spec, rollout_worker, wait_for_status
from workers.client import connect
from workers.settings import Settings
from workflows import search_attributes as sa
from workflows.rollout.state import RolloutResult
from workflows.rollout.view import plan

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.timeout(300)]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
COLUMNS = ["Status", "Workflow ID", sa.PHASE.name, sa.WEIGHT.name, sa.OUTCOME.name, "Start"]
"""The list's columns, as the UI keeps them in localStorage when a person picks them (docs/ui-tour.md)."""


def list_url(base: str) -> str:
    return f"{base}/namespaces/default/workflows?query=WorkflowType%3D%22Rollout%22"


async def start(client: Client, spec: dict[str, Any], task_queue: str) -> WorkflowHandle[Any, RolloutResult]:
    """Start as ``make run`` does: with a summary and the plan as static Details."""
    handle: WorkflowHandle[Any, RolloutResult] = await client.start_workflow(
        "Rollout",
        spec,
        id=f"rollout-{spec['service']}",
        task_queue=task_queue,
        result_type=RolloutResult,
        static_summary=f"{spec['service']} {spec['stable']['version']} -> {spec['candidate']['version']}",
        static_details=plan(validate_spec(spec)),
    )
    return handle


async def row_text(page: Page, workflow_id: str) -> str:
    """The text of the list's row for ``workflow_id`` (cells separated by tabs)."""
    found = await page.evaluate(
        "[...document.querySelectorAll('tr')].map(r => r.innerText)"
        f".find(t => t.includes({json.dumps(workflow_id)})) || ''"
    )
    return found if isinstance(found, str) else ""


async def show_columns(page: Page, base: str) -> None:
    """Pick the list's columns the way the UI stores a person's choice."""
    await page.goto(base)
    await page.wait_for_text("Workflows")
    columns = json.dumps({"default": [{"label": label} for label in COLUMNS]})
    await page.evaluate(f"localStorage.setItem('namespace-workflow-table-columns', {json.dumps(columns)})")


async def test_the_web_ui_shows_approval_and_rollback(tmp_path: Path) -> None:
    shots = DOCS_IMAGES if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    ui_port = free_port()
    (tmp_path / "temporal").mkdir()
    base = f"http://127.0.0.1:{ui_port}"
    regressed = {"rps": 200000, "stable": {"error_rate": 0.01}, "candidate": {"error_rate": 0.03}}
    async with (
        dev_server(tmp_path / "temporal", ui_port=ui_port) as server,
        run_simulator(knobs={"rps": 200000}) as healthy_sim,
        run_simulator(knobs=regressed) as regressed_sim,
    ):
        client = await connect(Settings(address=server.address))
        async with rollout_worker(client, "ui"):
            waiting = await start(
                client,
                compressed_spec(
                    healthy_sim,
                    "support-assistant",
                    steps=[{"weight": 10, "observe": "5s"}, {"weight": 50, "observe": "5s", "approval": True}],
                    approvals={"approvers": ["ml-lead", "sre-oncall", "product-owner"], "quorum": 2, "timeout": "30m"},
                    # A run hands over every 200 events (lean-history): at one analysis a second that is every
                    # ~15 s, and the page below would show a run already continued as new.
                    analysis_interval="5s",
                ),
                "ui",
            )
            bad = await start(
                client,
                compressed_spec(regressed_sim, "checkout-ranker", steps=[{"weight": 10, "observe": "1h"}]),
                "ui",
            )
            status = await wait_for_status(
                waiting, lambda st: st.phase == "awaiting_approval", what="approval phase", timeout=120
            )
            assert status.approval_deadline is not None
            deadline = f"{status.approval_deadline:%Y-%m-%d %H:%M} UTC"
            rolled_back = await bad.result()
            assert rolled_back.record.rollback is not None

            async with chromium(tmp_path / "profile", width=1400) as page:
                await show_columns(page, base)
                await page.goto(list_url(base))
                await page.wait_for_text(
                    sa.PHASE.name, sa.OUTCOME.name, waiting.id, bad.id, "awaiting_approval", "rolled_back"
                )
                bad_row = await row_text(page, bad.id)
                assert "Completed" in bad_row and bad_row.count("rolled_back") == 2, bad_row  # phase and outcome
                waiting_row = await row_text(page, waiting.id)
                assert "awaiting_approval" in waiting_row and "running" in waiting_row and "50" in waiting_row
                await page.screenshot(shots / "ui-list.png")

                current = (await client.get_workflow_handle(waiting.id).describe()).run_id
                await page.goto(f"{base}/namespaces/default/workflows/{waiting.id}/{current}/user-metadata")
                await page.wait_for_text(
                    "Phase: awaiting_approval",
                    "Candidate weight: 50%",
                    "may approve: ml-lead, sre-oncall, product-owner",
                    "received: none",
                    f"Approval deadline: {deadline}",
                )
                await page.screenshot(shots / "ui-awaiting-approval.png")

                await page.goto(f"{base}/namespaces/default/workflows/{bad.id}/{bad.result_run_id}/user-metadata")
                await page.wait_for_text(
                    "Phase: rolled_back", "Candidate weight: 0%", "Rollback cause: analysis", "error_rate"
                )
                await page.screenshot(shots / "ui-rolled-back.png")

            await waiting.execute_update("abort", {"by": "ui-test", "reason": "cleanup"})
            await waiting.result()
    for name in ("ui-list.png", "ui-awaiting-approval.png", "ui-rolled-back.png"):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
