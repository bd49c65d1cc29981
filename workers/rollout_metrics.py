"""The project's own rollout metrics, recorded by a worker interceptor (no workflow code changes).

What an operator alerts on, next to the SDK's own metrics (names as Prometheus shows them with
``workers.telemetry``'s exporter; every series also carries ``namespace`` and ``task_queue``):

- ``rollouts_started_total`` / ``rollouts_finished_total{outcome}``: started minus finished is what is running.
- ``rollouts_rollbacks_total{cause}`` and ``rollouts_rollback_seconds``: how often and how fast stable was back.
- ``rollouts_duration_seconds{outcome}``: start to end of whole rollouts.
- ``rollouts_activity_seconds{activity_type,outcome}`` and ``rollouts_analyses_total{outcome}``: every counter read
  (one per analysis) and every router call, with its duration; ``outcome="error"`` counts failed attempts.
- ``rollouts_router_moves_total{direction}``: traffic moved towards the candidate or back to stable.

Workflow-side numbers come from ``workflow.metric_meter()``, which records nothing while a workflow replays, so a
worker restart does not count old rollouts again. Activity-side numbers come from ``activity.metric_meter()``.
"""

from __future__ import annotations

import time
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import is_cancelled_exception
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from models.activities import SetWeightsInput

ROLLOUT_WORKFLOW = "Rollout"
ANALYSIS_READ = "read_counters"
ROUTER_CALL = "set_weights"


class _RolloutActivityMetrics(ActivityInboundInterceptor):
    """Times every activity attempt and counts analyses and router moves."""

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        """Run the activity; record its duration and outcome whatever happens."""
        kind = activity.info().activity_type
        started = time.monotonic()
        outcome = "error"
        try:
            result = await super().execute_activity(input)
            outcome = "ok"
            return result
        except BaseException as exc:
            outcome = "cancelled" if is_cancelled_exception(exc) else "error"
            raise
        finally:
            meter = activity.metric_meter().with_additional_attributes({"outcome": outcome})
            meter.create_histogram_float(
                "rollouts_activity_seconds", "Duration of one attempt of a rollout activity.", "s"
            ).record(time.monotonic() - started)
            if kind == ANALYSIS_READ:
                meter.create_counter("rollouts_analyses", "Counter reads, one per analysis.").add(1)
            if kind == ROUTER_CALL and outcome == "ok" and input.args and isinstance(input.args[0], SetWeightsInput):
                direction = "to_candidate" if input.args[0].candidate_weight > 0 else "to_stable"
                activity.metric_meter().create_counter(
                    "rollouts_router_moves", "Router changes that were applied and read back."
                ).add(1, {"direction": direction})


class _RolloutWorkflowMetrics(WorkflowInboundInterceptor):
    """Counts rollouts started and finished, with the outcome, rollback cause and durations from the record."""

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        """Run the workflow; on a rollout's first run count a start, on its last the way it ended."""
        info = workflow.info()
        if info.workflow_type != ROLLOUT_WORKFLOW:
            return await super().execute_workflow(input)
        meter = workflow.metric_meter()
        if info.continued_run_id is None:
            meter.create_counter("rollouts_started", "Rollouts started (first runs only).").add(1)
        result = await super().execute_workflow(input)  # continue-as-new raises: counted by the last run
        record = getattr(result, "record", None)
        outcome = str(getattr(record, "outcome", "unknown"))
        meter.create_counter("rollouts_finished", "Rollouts that ended, by outcome.").add(1, {"outcome": outcome})
        started_at, finished_at = getattr(record, "started_at", None), getattr(record, "finished_at", None)
        if started_at is not None and finished_at is not None:
            meter.create_histogram_float("rollouts_duration_seconds", "Start to end of a whole rollout.", "s").record(
                max(0.0, (finished_at - started_at).total_seconds()), {"outcome": outcome}
            )
        rollback = getattr(record, "rollback", None)
        if rollback is not None:
            meter.create_counter("rollouts_rollbacks", "Rollbacks, by cause.").add(1, {"cause": str(rollback.cause)})
            if rollback.duration_seconds is not None:
                meter.create_histogram_float(
                    "rollouts_rollback_seconds", "From the decision to roll back to stable verified at 100%.", "s"
                ).record(rollback.duration_seconds, {"cause": str(rollback.cause)})
        return result


class RolloutMetricsInterceptor(Interceptor):
    """The worker interceptor that records the metrics listed in this module's docstring."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap every activity."""
        return _RolloutActivityMetrics(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """Wrap every workflow (only rollouts are counted)."""
        return _RolloutWorkflowMetrics
