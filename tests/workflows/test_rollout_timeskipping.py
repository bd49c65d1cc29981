"""The default 48-hour schedule on the Java time-skipping server: real timers, skipped."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from models.spec import DEFAULT_STEPS
from simulator.testing import run_simulator
from tests.workflows.helpers import (
    MAX_PAYLOAD_BYTES,
    largest_input,
    result_size,
    rollout_worker,
    run_histories,
    start_rollout,
)
from workflows.rollout.analysis import LEAN_HISTORY_EVENTS


@pytest.mark.timeskipping
@pytest.mark.timeout(900)  # 576 analyses and more on the time-skipping server: about 3 min on 2 busy cores
async def test_default_48h_schedule_runs_to_promotion(time_skipping_env: WorkflowEnvironment) -> None:
    client = time_skipping_env.client
    task_queue = f"ts-{uuid.uuid4().hex[:8]}"
    service = f"ts-{uuid.uuid4().hex[:8]}"
    # The modelled traffic follows the wall clock, and 48 skipped hours take well under a minute of it since runs
    # hand over at the replay budget (short histories make the time-skipping server fast): a high modelled rate
    # gives the judge the samples two days of a busy service would.
    async with run_simulator(knobs={"rps": 2_000_000}) as sim, rollout_worker(client, task_queue):
        spec = {
            "service": service,
            "requested_by": "ml-engineer",
            "stable": {"version": sim.stable_version},
            "candidate": {"version": sim.candidate_version},
            "router": {"kind": "http", "url": sim.routes_url(service)},
            "metrics": {"kind": "http-json", "url": sim.metrics_url(service)},
        }  # steps, interval, criteria and triggers left to their defaults: 1/5/25/50% over 48 h, every 5 min
        handle = await start_rollout(client, spec, task_queue)
        result = await handle.result()
        events = [event async for event in handle.fetch_history_events()]
        routes = await sim.routes(service)
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert routes == {"stable": 0.0, "candidate": 100.0}
    assert [s.weight for s in record.steps] == [s.weight for s in DEFAULT_STEPS]
    # The 48 h are a minimum: the simulator's traffic follows the wall clock, not the skipped time, so a step can
    # need its extension (and a hold) before its evidence passes. Promotion still comes on evidence alone.
    assert all(s.evidence == "pass" for s in record.steps), [(s.weight, s.evidence) for s in record.steps]
    assert all(s.observed_seconds >= s.observe_seconds - 1 for s in record.steps)
    assert sum(s.analyses for s in record.steps) >= 48 * 12  # at least one analysis every 5 minutes
    assert record.finished_at is not None
    assert (record.finished_at - record.started_at).total_seconds() >= 48 * 3600
    # Bounded history: continue-as-new keeps each run well under Temporal's 10k-event warning.
    assert len(events) < 10_000
    print(f"\n48h rollout: {len(events)} events in the last run, continued as new {record.continued_as_new} times")


EVENTS_PER_ANALYSIS_AT_MOST = 20
"""An analysis adds 11 events (6 with local reads); a step change or a note's upsert adds a few more."""


@pytest.mark.timeskipping
@pytest.mark.slow
@pytest.mark.timeout(3600)  # 20,160 analyses, each a timer and an activity on the time-skipping server
async def test_fourteen_day_step_at_one_minute_keeps_every_run_and_payload_bounded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """20,160 analyses in one step: continue-as-new keeps each run's history and every carried input small."""
    client = time_skipping_env.client
    task_queue = f"ts-{uuid.uuid4().hex[:8]}"
    service = f"ts-{uuid.uuid4().hex[:8]}"
    async with run_simulator(knobs={"rps": 200000}) as sim, rollout_worker(client, task_queue):
        spec = {
            "service": service,
            "requested_by": "ml-engineer",
            "stable": {"version": sim.stable_version, "manifest": {"model": "m" * 1000}},
            "candidate": {"version": sim.candidate_version, "manifest": {"model": "n" * 1000}},
            "router": {"kind": "http", "url": sim.routes_url(service)},
            "metrics": {"kind": "http-json", "url": sim.metrics_url(service)},
            "steps": [{"weight": 50, "observe": "14d"}],
            "analysis_interval": "1m",
        }
        handle = await start_rollout(client, spec, task_queue)
        result = await handle.result()
        runs = await run_histories(client, handle)
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert record.steps[0].analyses == 14 * 24 * 60
    assert record.continued_as_new >= 1 and len(runs) == record.continued_as_new + 1
    sizes = [largest_input(run) for run in runs]
    events = [len(run.events) for run in runs]
    result_bytes = result_size(runs[-1])
    assert max(events) < 10_000, events
    # The replay budget (issue 24): a run hands over once past it, within the analysis that crossed it.
    assert max(events[:-1]) <= LEAN_HISTORY_EVENTS + EVENTS_PER_ANALYSIS_AT_MOST, events
    assert max(sizes) < MAX_PAYLOAD_BYTES, sizes
    assert result_bytes < MAX_PAYLOAD_BYTES
    print(
        f"\n14-day step: {len(runs)} runs, at most {max(events)} events, largest carried input {max(sizes):,} B, "
        f"result {result_bytes:,} B"
    )
