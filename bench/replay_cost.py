"""Events per analysis and replay time per run: what sets the continue-as-new threshold (issue 24).

    python -m bench.replay_cost [--seconds 240] [--repeats 5] [--keep PATH | --history PATH]

One rollout on the real dev server and the production worker wiring analyses every second for ``--seconds`` on a
step that never ends (the simulator's traffic, nothing tuned), then is aborted. Its first run's history (a whole run
up to its hand-over, when the seconds are enough for one) is cut at every
workflow task completion past each quarter and replayed with the SDK's ``Replayer`` (the same sandbox a worker
uses after a restart or a cache eviction), ``--repeats`` times each; the slope of replay time over events gives
the cost of one event, and the events a run may hold within the replay budget follow. Events per analysis are
counted between consecutive counter reads, here (local reads) and in a history recorded before the
``local-counter-reads`` patch. ``--history`` replays a history kept earlier (``--keep``) instead of recording one, so
the same events can be replayed on two versions of the workflow code. Replay is timed in wall time and in the
process's CPU time (all threads): on a machine that other jobs load, the CPU time is the steadier of the two.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from bench.scale.measure import ANALYSIS_READ, local_read_scheduled
from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.servers import dev_server
from tests.workflows.helpers import rollout_worker, start_rollout, status, targeted_spec, wait_until
from workers.client import connect
from workers.converter import data_converter
from workers.sandbox import sandbox_runner
from workers.settings import Settings
from workflows.lease import RolloutLease
from workflows.rollout import RolloutWorkflow

BUDGET_MS = 100.0
"""What one run's replay may cost on this machine (issue 24): a restarted worker replays every run it picks up."""
BEFORE = (
    Path(__file__).resolve().parents[1] / "tests" / "histories" / "v6-deploy-windows--rollout-recorded-promote.json"
)
"""A history recorded before the local-counter-reads patch: counter reads are scheduled activities there."""


def read_positions(history: WorkflowHistory) -> list[int]:
    """Indexes of the events that are counter reads (an activity scheduled, or a local read's marker)."""
    positions = []
    for index, event in enumerate(history.events):
        scheduled = (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name == ANALYSIS_READ
        )
        if scheduled or local_read_scheduled(event) is not None:
            positions.append(index)
    return positions


def events_per_analysis(history: WorkflowHistory) -> float:
    """Median events between consecutive counter reads (an analysis in the steady state)."""
    positions = read_positions(history)
    gaps = [b - a for a, b in itertools.pairwise(positions)]
    return float(statistics.median(gaps)) if gaps else float("nan")


def prefix(history: WorkflowHistory, fraction: float) -> WorkflowHistory:
    """The history up to the first workflow task completion at or past ``fraction`` of its events."""
    cut = int(len(history.events) * fraction)
    for index in range(cut, len(history.events)):
        if history.events[index].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return WorkflowHistory(history.workflow_id, list(history.events[: index + 1]))
    return history


async def replay_ms(replayer: Replayer, history: WorkflowHistory, repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of replaying ``history`` (it must replay without a nondeterminism error)."""
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        if result.replay_failure is not None:
            raise RuntimeError(f"replay failed: {result.replay_failure}")
    return statistics.median(walls), statistics.median(cpus)


def slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares: (ms per event, fixed ms per run)."""
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    per_event = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else float("nan")
    return per_event, my - per_event * mx


async def record_history(seconds: float) -> WorkflowHistory:
    """A rollout that analyses every second for ``seconds``, then is aborted: its history."""
    with tempfile.TemporaryDirectory() as data:
        async with dev_server(Path(data)) as server, run_simulator(knobs={"rps": 2000}) as sim:
            client = await connect(Settings(address=server.address))
            policy = write_lab_policy(Path(data) / "policy.json", {"sim": sim.target()})
            spec = targeted_spec(sim, "replay-cost", steps=[{"weight": 10, "observe": "2h"}])
            async with rollout_worker(client, "bench-replay", policy_path=policy):
                handle = await start_rollout(client, spec, "bench-replay")
                await asyncio.sleep(seconds)  # the benchmark's duration, not a wait for a condition
                await handle.signal("abort", {"reason": "benchmark over", "by": "bench"})

                async def closed() -> bool:
                    return (await handle.describe()).close_time is not None

                await wait_until(closed, what="rollout closed", timeout=120)
                final = await status(handle)
                # The first run: when the rollout handed over, a whole run, the longest a restarted worker replays.
                first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
                history = await first.fetch_history()
    print(f"recorded: {len(history.events)} events in the first run, phase {final.phase}")
    return history


CUTS = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
"""Where the history is cut for the fit: eight points, so one noisy replay moves the slope less."""


async def main(seconds: float, repeats: int, keep: Path | None = None, replay: Path | None = None) -> dict[str, Any]:
    if replay is not None:
        history = WorkflowHistory.from_json("rollout-replay-cost", json.loads(replay.read_text()))
    else:
        history = await record_history(seconds)
    if keep is not None:
        keep.write_text(history.to_json())
    # The worker's own converter and sandbox: what a restarted worker pays.
    replayer = Replayer(
        workflows=[RolloutWorkflow, RolloutLease], workflow_runner=sandbox_runner(), data_converter=data_converter
    )
    await replay_ms(replayer, history, 1)  # warm: the first replay in a process also imports
    points, cpu_points = [], []
    for fraction in CUTS:
        part = prefix(history, fraction)
        wall, cpu = await replay_ms(replayer, part, repeats)
        points.append((len(part.events), wall))
        cpu_points.append((len(part.events), cpu))
    per_event, fixed = slope(points)
    cpu_per_event, cpu_fixed = slope(cpu_points)
    before = WorkflowHistory.from_json("rollout-recorded-promote", json.loads(BEFORE.read_text()))
    now = events_per_analysis(history)
    budget_events = int((BUDGET_MS - fixed) / per_event) if per_event > 0 else None
    return {
        "load_average_1m": os.getloadavg()[0],
        "events": len(history.events),
        "analyses": len(read_positions(history)),
        "events_per_analysis_now": now,
        "events_per_analysis_before": events_per_analysis(before),
        "replay_ms_by_events": points,
        "replay_ms_per_event": per_event,
        "replay_ms_fixed": fixed,
        "replay_cpu_ms_by_events": cpu_points,
        "replay_cpu_ms_per_event": cpu_per_event,
        "replay_cpu_ms_fixed": cpu_fixed,
        "events_within_budget": budget_events,
        "analyses_within_budget": int(budget_events / now) if budget_events and now else None,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="write the recorded history here (JSON)")
    parser.add_argument("--history", type=Path, default=None, help="replay this history (JSON) instead of recording")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.seconds, args.repeats, args.keep, args.history)), indent=2))
