"""The ``lean-history`` patch on a real dev server (issue 24, ADR 42).

A run hands over at the replay budget measured for this machine (``LEAN_HISTORY_EVENTS``), an upsert never writes
search attributes that already hold their values (a continued run's start event carries the previous run's), and
the commands a run issues live still carry their summaries (they are left out only when replay re-creates them).
"""

from __future__ import annotations

import asyncio

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from simulator.testing import run_simulator
from tests.workflows.helpers import (
    compressed_spec,
    rollout_worker,
    run_histories,
    start_rollout,
    unique_service,
    wait_until,
)
from tests.workflows.test_rollout_timeskipping import EVENTS_PER_ANALYSIS_AT_MOST
from workflows.rollout.analysis import LEAN_HISTORY_EVENTS, REPLAY_BUDGET_EVENTS


def unchanged_upserts(history: WorkflowHistory) -> list[int]:
    """Event ids of upserts that set every attribute they name to the value it already had."""
    started = history.events[0].workflow_execution_started_event_attributes
    current: dict[str, bytes] = {k: p.data for k, p in started.search_attributes.indexed_fields.items()}
    found = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        fields: dict[str, Payload] = dict(
            event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        )
        if all(current.get(k) == p.data for k, p in fields.items()):
            found.append(event.event_id)
        current.update({k: p.data for k, p in fields.items()})
    return found


def reads(history: WorkflowHistory) -> list[int]:
    """Event ids of the counter reads the run scheduled."""
    return [
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "read_counters"
    ]


def unsummarised(history: WorkflowHistory) -> list[int]:
    """Event ids of timers and counter reads the run started without a summary for the UI."""
    started = set(reads(history))
    started |= {e.event_id for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED}
    return [e.event_id for e in history.events if e.event_id in started and not e.user_metadata.summary.data]


async def test_a_run_hands_over_at_the_budget_and_upserts_only_changes(client: Client, task_queue: str) -> None:
    async with run_simulator(knobs={"rps": 2000}) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, unique_service(), steps=[{"weight": 10, "observe": "1h"}])
        handle = await start_rollout(client, spec, task_queue)

        latest = client.get_workflow_handle(handle.id)

        async def analysed_after_hand_over() -> bool:
            if (await latest.describe()).run_id == handle.first_execution_run_id:
                return False
            return len(reads(await latest.fetch_history())) >= 2  # the first analysis is done, the next one due

        # About 17 analyses a second apart fill the first run; the continued run then analyses once more.
        await wait_until(analysed_after_hand_over, what="an analysis in the continued run", timeout=120)
        await handle.signal("abort", {"reason": "test over", "by": "test"})
        result = await asyncio.wait_for(handle.result(), timeout=60)
        runs = await run_histories(client, handle)

    assert result.record.outcome == "rolled_back", result.markdown
    first = len(runs[0].events)
    # Handed over at the new budget, within the analysis that crossed it; under the old one it ran to 300.
    assert LEAN_HISTORY_EVENTS < first <= LEAN_HISTORY_EVENTS + EVENTS_PER_ANALYSIS_AT_MOST < REPLAY_BUDGET_EVENTS
    for run in runs:
        assert unchanged_upserts(run) == [], run.run_id
        assert unsummarised(run) == [], run.run_id
