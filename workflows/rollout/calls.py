"""Every activity the rollout calls, typed, with its timeouts and retry policy in one table.

Calls go through ``workflow.execute_activity_method`` on the activity classes, so mypy checks each input and
result. The activity type names (``set_weights`` ...) are what recorded histories hold; the classes keep them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.eval_gate import EvalActivities
    from activities.lease import LeaseActivities
    from activities.notify import NotifyActivities
    from activities.release import ReleaseActivities
    from activities.rollout import RolloutActivities
    from models.activities import (
        CounterPair,
        PreflightInput,
        PreflightResult,
        ReadCountersInput,
        RouterState,
        SetWeightsInput,
        ShadowInput,
        ShadowResult,
    )
    from models.evals import EvalInput, EvalResult
    from models.lease import LeaseHolder, LeaseRequest
    from models.notifications import NotifyInput, NotifyResult
    from models.release import ReleaseInput, ReleaseResult
    from workflows.summaries import shown


@dataclass(frozen=True)
class CallOptions:
    """How long one attempt may take, how attempts are retried, and how often a long one must heartbeat."""

    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None


def _retry(initial: timedelta, maximum: timedelta, attempts: int) -> RetryPolicy:
    return RetryPolicy(initial_interval=initial, maximum_interval=maximum, maximum_attempts=attempts)


_SECOND = timedelta(seconds=1)
FORWARD_ROUTER_RETRY = _retry(_SECOND, 10 * _SECOND, 6)
ROLLBACK_ROUTER_RETRY = _retry(timedelta(milliseconds=200), 5 * _SECOND, 0)
"""Rollback retries until the router confirms: there is no state worse than a half-done rollback."""
METRICS_RETRY = _retry(_SECOND, 10 * _SECOND, 3)
GATE_RETRY = _retry(2 * _SECOND, 30 * _SECOND, 3)

CALLS: dict[str, CallOptions] = {
    "set_weights": CallOptions(30 * _SECOND, FORWARD_ROUTER_RETRY),
    "route_all_to_stable": CallOptions(10 * _SECOND, ROLLBACK_ROUTER_RETRY),
    "read_counters": CallOptions(30 * _SECOND, METRICS_RETRY),
    "run_preflight": CallOptions(timedelta(minutes=2), GATE_RETRY),
    "run_shadow": CallOptions(timedelta(minutes=30), GATE_RETRY, heartbeat=timedelta(minutes=1)),
    "run_eval": CallOptions(timedelta(hours=2), GATE_RETRY, heartbeat=timedelta(seconds=30)),
    "acquire_lease": CallOptions(30 * _SECOND, GATE_RETRY),
    "release_lease": CallOptions(30 * _SECOND, ROLLBACK_ROUTER_RETRY),
}
"""One row per call: ``route_all_to_stable`` is ``set_weights`` to 0% with the rollback's patience."""

RELEASE_START_TO_CLOSE = 15 * _SECOND
"""One release attempt (the HTTP client gives up after 10s)."""
RELEASE_RETRY = RetryPolicy(
    initial_interval=2 * _SECOND, backoff_coefficient=3.0, maximum_interval=60 * _SECOND, maximum_attempts=5
)
"""2s, 6s, 18s, 54s between attempts: a hook down for about a minute and a half is still reached."""

NOTIFY_START_TO_CLOSE = 15 * _SECOND
"""One delivery attempt (the HTTP client gives up after 5s; the rest is room for a slow worker)."""
NOTIFY_SCHEDULE_TO_CLOSE = timedelta(minutes=2)
"""Every attempt of one delivery together: what bounds the wait for deliveries at the end of a rollout."""


def notify_retry(attempts: int) -> RetryPolicy:
    """2s, 6s, 18s, 54s between attempts: 5 attempts span about 80s, inside ``NOTIFY_SCHEDULE_TO_CLOSE``."""
    return RetryPolicy(
        initial_interval=2 * _SECOND, backoff_coefficient=3.0, maximum_interval=60 * _SECOND, maximum_attempts=attempts
    )


def start_notification(request: NotifyInput, *, summary: str) -> workflow.ActivityHandle[NotifyResult]:
    """Start one delivery and return at once: the caller never awaits it on the rollout's path."""
    return workflow.start_activity_method(
        NotifyActivities.send_notification,
        request,
        start_to_close_timeout=NOTIFY_START_TO_CLOSE,
        schedule_to_close_timeout=NOTIFY_SCHEDULE_TO_CLOSE,
        retry_policy=notify_retry(request.webhook.attempts),
        summary=shown(summary),
    )


async def set_weights(request: SetWeightsInput, *, summary: str) -> RouterState:
    """Move traffic forward; a few retries, then the failure becomes a rollback."""
    o = CALLS["set_weights"]
    return await workflow.execute_activity_method(
        RolloutActivities.set_weights,
        request,
        start_to_close_timeout=o.start_to_close,
        retry_policy=o.retry,
        summary=shown(summary),
    )


async def route_all_to_stable(request: SetWeightsInput, *, summary: str) -> RouterState:
    """Stable to 100% during a rollback: retried until the router confirms."""
    o = CALLS["route_all_to_stable"]
    return await workflow.execute_activity_method(
        RolloutActivities.set_weights,
        request,
        start_to_close_timeout=o.start_to_close,
        retry_policy=o.retry,
        summary=shown(summary),
    )


async def read_counters(request: ReadCountersInput, *, summary: str, local: bool = False) -> CounterPair:
    """Both versions' cumulative counters.

    ``local``: as a local activity, one marker in the history (6 events an analysis instead of 11). Only for
    rollouts whose histories already read locally: new rollouts read with a normal activity since a replay of a
    local read failed with a nondeterminism error on the cluster test (ADR 28, ``REMOTE_READS_PATCH``).
    """
    o = CALLS["read_counters"]
    if local:
        try:
            return await workflow.execute_local_activity_method(
                RolloutActivities.read_counters,
                request,
                start_to_close_timeout=o.start_to_close,
                retry_policy=o.retry,
                summary=shown(summary),
            )
        except (ApplicationError, TimeoutError) as exc:
            # A local activity's last failure reaches the workflow bare, not wrapped in an ActivityError as a normal
            # activity's is. Unwrapped it would fail the whole rollout; wrapped, the callers count an analysis
            # error, as they do for a normal read (an outage of the metrics is a recorded error, never a failure).
            raise ActivityError(
                f"read_counters failed: {exc}",
                scheduled_event_id=0,
                started_event_id=0,
                identity="",
                activity_type="read_counters",
                activity_id="",
                retry_state=None,
            ) from exc
    return await workflow.execute_activity_method(
        RolloutActivities.read_counters,
        request,
        start_to_close_timeout=o.start_to_close,
        retry_policy=o.retry,
        summary=shown(summary),
    )


async def run_preflight(request: PreflightInput, *, summary: str) -> PreflightResult:
    """The candidate's eval score."""
    o = CALLS["run_preflight"]
    return await workflow.execute_activity_method(
        RolloutActivities.run_preflight,
        request,
        start_to_close_timeout=o.start_to_close,
        retry_policy=o.retry,
        summary=shown(summary),
    )


async def run_shadow(request: ShadowInput, *, summary: str) -> ShadowResult:
    """The shadow comparison; it heartbeats, so a dead worker is noticed within a minute."""
    o = CALLS["run_shadow"]
    return await workflow.execute_activity_method(
        RolloutActivities.run_shadow,
        request,
        start_to_close_timeout=o.start_to_close,
        heartbeat_timeout=o.heartbeat,
        retry_policy=o.retry,
        summary=shown(summary),
    )


async def run_eval(request: EvalInput, *, summary: str) -> EvalResult:
    """The eval suite on both versions; it heartbeats each graded case, so a new attempt resumes after them."""
    o = CALLS["run_eval"]
    return await workflow.execute_activity_method(
        EvalActivities.run_eval,
        request,
        start_to_close_timeout=o.start_to_close,
        heartbeat_timeout=o.heartbeat,
        retry_policy=o.retry,
        summary=shown(summary),
    )


async def acquire_lease(request: LeaseRequest, *, summary: str) -> LeaseHolder:
    """The service's lease, or a non-retryable failure naming the rollout that holds it."""
    o = CALLS["acquire_lease"]
    return await workflow.execute_activity_method(
        LeaseActivities.acquire_lease,
        request,
        start_to_close_timeout=o.start_to_close,
        retry_policy=o.retry,
        summary=shown(summary),
    )


async def release_lease(request: LeaseRequest, *, summary: str) -> None:
    """Give the lease back; retried until the lease workflow has it."""
    o = CALLS["release_lease"]
    await workflow.execute_activity_method(
        LeaseActivities.release_lease,
        request,
        start_to_close_timeout=o.start_to_close,
        retry_policy=o.retry,
        summary=shown(summary),
    )


async def release_old_version(request: ReleaseInput) -> ReleaseResult:
    """The operators' release hook, retried for about a minute and a half; its failure is the caller's to record."""
    return await workflow.execute_activity_method(
        ReleaseActivities.release_old_version,
        request,
        start_to_close_timeout=RELEASE_START_TO_CLOSE,
        retry_policy=RELEASE_RETRY,
        summary=shown(f"release {request.released_version}: the operators' hook"),
    )
