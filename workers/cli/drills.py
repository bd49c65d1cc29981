"""``rollouts drill``: schedule a service's rollback drills, or run one now.

    rollouts drill schedule <service> --every 7d [--target NAME] [--paused]
    rollouts drill run <service> [--target NAME]

``schedule`` creates (or updates) the Temporal Schedule ``rollback-drill-<service>``, shown on the Web UI's
Schedules page, whose action starts a ``RollbackDrill`` workflow on the worker's task queue; a drill still running
when the next is due is skipped, never stacked. ``run`` starts one drill now and prints its result. The target is
only a name: what it touches comes from the operators' policy on the worker (docs/drills.md).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowFailureError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from models.drill import DRILL_WORKFLOW, DrillInput, DrillResult, drill_schedule_id
from models.durations import parse_duration
from workflows import search_attributes as sa

MIN_EVERY = timedelta(minutes=1)
"""Shortest interval between drills: each one takes the service's lease, so a tighter loop would starve rollouts."""
DRILL_RUN_TIMEOUT = timedelta(minutes=30)
"""A drill's whole run: far beyond the rollback's own bound and the dwell, so a stuck one ends."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``drill`` command and its two subcommands."""
    drill = commands.add_parser("drill", help="rollback drills: schedule them per service, or run one now")
    subs = drill.add_subparsers(dest="drill_command", required=True)
    schedule = subs.add_parser("schedule", help="create or update the service's drill schedule")
    schedule.add_argument("service")
    schedule.add_argument("--every", required=True, help="interval between drills, e.g. 7d, 24h (at least 1m)")
    schedule.add_argument("--target", help="the policy target to drill (default: the policy's drill.target)")
    schedule.add_argument("--paused", action="store_true", help="create the schedule paused")
    schedule.add_argument("--address", help="Temporal frontend address (default: TEMPORAL_ADDRESS)")
    run = subs.add_parser("run", help="run one drill now and print its result")
    run.add_argument("service")
    run.add_argument("--target", help="the policy target to drill (default: the policy's drill.target)")
    run.add_argument("--address", help="Temporal frontend address (default: TEMPORAL_ADDRESS)")


def drill_input(service: str, target: str | None) -> DrillInput:
    """The drill's input, checked here too so a typo fails at the command, not at the first scheduled run."""
    try:
        return DrillInput(service=service, target=target)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise ValueError(f"not a service and target name ({fields}): lowercase letters, digits and dashes") from None


def drill_schedule(request: DrillInput, every: timedelta, task_queue: str, *, paused: bool = False) -> Schedule:
    """The schedule: a ``RollbackDrill`` every ``every``, skipped while the previous one still runs."""
    if every < MIN_EVERY:
        raise ValueError(f"--every: at least {int(MIN_EVERY.total_seconds())}s between drills")
    where = f" on target {request.target}" if request.target else ""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DRILL_WORKFLOW,
            request,
            id=drill_schedule_id(request.service),
            task_queue=task_queue,
            execution_timeout=DRILL_RUN_TIMEOUT,
            typed_search_attributes=TypedSearchAttributes([SearchAttributePair(sa.SERVICE, request.service)]),
            static_summary=f"rollback drill of {request.service}{where}",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(
            paused=paused,
            note=f"created by `rollouts drill schedule {request.service}`; see docs/drills.md",
        ),
    )


async def schedule_drills(
    client: Client, request: DrillInput, every: timedelta, task_queue: str, *, paused: bool = False
) -> ScheduleHandle:
    """Create the service's schedule, or replace the one that exists (same id): running it twice is harmless."""
    schedule = drill_schedule(request, every, task_queue, paused=paused)
    schedule_id = drill_schedule_id(request.service)
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        return handle


async def run_drill(client: Client, request: DrillInput, task_queue: str) -> DrillResult:
    """Start one drill now (its own workflow id, beside the scheduled ones) and wait for its result."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result: DrillResult = await client.execute_workflow(
        DRILL_WORKFLOW,
        request,
        id=f"{drill_schedule_id(request.service)}-manual-{stamp}",
        task_queue=task_queue,
        execution_timeout=DRILL_RUN_TIMEOUT,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.SERVICE, request.service)]),
        result_type=DrillResult,
    )
    return result


async def main(client: Client, args: argparse.Namespace, task_queue: str) -> int:
    """Run ``drill schedule`` or ``drill run``; 0 done (a passed drill), 1 refused, failed or slow."""
    try:
        request = drill_input(args.service, args.target)
        if args.drill_command == "schedule":
            every = parse_duration(args.every)
            handle = await schedule_drills(client, request, every, task_queue, paused=args.paused)
            print(
                f"schedule {handle.id}: a rollback drill of {request.service} every {args.every}"
                + (" (paused)" if args.paused else "")
                + f"; trigger one now with: temporal schedule trigger --schedule-id {handle.id}"
            )
            return 0
        result = await run_drill(client, request, task_queue)
    except ValueError as exc:
        print(f"rollouts drill: {exc}")
        return 2
    except WorkflowFailureError as exc:
        print(f"rollouts drill: {exc.cause}")
        return 1
    print(result.summary())
    print(json.dumps(result.model_dump(mode="json", exclude={"timeline"}), indent=2))
    return 0 if result.outcome == "passed" else 1
