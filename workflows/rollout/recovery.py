"""Verified recovery: after a rollback, watch stable until it is back at its pre-rollout baseline, or time is up.

A rollback ends when the router reads stable back at 100%; that says where traffic goes, not that users are fine.
Where the policy asks for it (``ServicePolicy.recovery``), the rollout keeps reading the metrics at its analysis
interval for up to ``recovery.watch``, ending at the first reading that meets the rule (``workflows.recovery``),
and records ``recovered`` (with how long it took), ``not_recovered`` or ``unverified`` (no baseline, unreadable
metrics). Every verdict is notified; ``not_recovered`` is the one a person must act on.

The service's lease is held during the watch: a new rollout moving traffic meanwhile would make the reading
meaningless. The phase stays ``rolled_back`` (nothing moves any more; signals are refused as meaningless).
Behind ``NOTIFY_PATCH``, with the notifications. Since ``RECOVERY_OUTCOME_PATCH`` a ``not_recovered`` verdict
also upserts the outcome, so the workflow list's ``RolloutOutcome`` column reads ``rolled_back_not_recovered``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.activities import ReadCountersInput
    from models.counters import Counters
    from models.durations import format_duration
    from models.record import RecoveryReport, RecoveryVerdict, recovery_phrase
    from workflows import recovery as rule
    from workflows.rollout import calls
    from workflows.rollout.context import RolloutRun, cause
    from workflows.rollout.notify import notify

RECOVERY_OUTCOME_PATCH = "recovery-outcome"
"""A stable that stays bad after a rollback shows in the list's outcome column, not only in the record: one more
search-attribute upsert at the verdict (a command older histories do not have)."""


async def verify_recovery(run: RolloutRun) -> None:
    """Watch stable after a rollback that moved traffic back, where the policy asks; record and notify."""
    s = run.state
    policy = s.policy.policy.recovery if s.policy is not None else None
    rollback = s.record.rollback
    if not s.notify_patch or policy is None or rollback is None or rollback.router_verified is not True:
        return
    started = workflow.now()
    baseline = s.recovery_baseline
    if baseline is None or baseline.requests < policy.min_requests:
        seen = "no reading" if baseline is None else f"{baseline.requests} requests"
        _conclude(
            run,
            "unverified",
            started,
            [
                f"no baseline: stable's metrics had {seen} before the rollback, fewer than min_requests "
                f"{policy.min_requests}"
            ],
        )
        return
    evidence = [rule.rule_line(baseline, policy)]
    run.note("recovery watch", f"stable watched for up to {format_duration(policy.watch)}: {evidence[0]}")
    since = await _stable(run, "recovery: stable's counters at 100%")
    deadline = started + policy.watch
    last = "no reading"
    while since is not None:
        now = workflow.now()
        if now >= deadline:
            break
        await workflow.sleep(
            min(run.spec.analysis_interval, deadline - now),
            summary=f"recovery watch until {deadline:%H:%M:%S} UTC",
        )
        current = await _stable(run, "recovery: read stable's counters")
        if current is None:
            last = "metrics unreadable"
            continue
        try:
            found = rule.check(baseline, since, current, policy)
        except ValueError as exc:  # inconsistent counters: no reading, as in an analysis
            last = f"unusable counters: {exc}"
            continue
        last = found.line
        if found.recovered:
            _conclude(run, "recovered", started, [*evidence, f"last reading: {last}"])
            return
    if since is None:
        _conclude(run, "unverified", started, [*evidence, "stable's metrics could not be read at 100%"])
        return
    _conclude(run, "not_recovered", started, [*evidence, f"last reading: {last}"])


async def _stable(run: RolloutRun, summary: str) -> Counters | None:
    """Stable's counters now; None when the metrics cannot be read (the watch goes on, the verdict says so)."""
    spec = run.spec
    try:
        pair = await calls.read_counters(
            ReadCountersInput(
                metrics=run.metrics(),
                service=spec.service,
                stable_version=spec.stable.version,
                candidate_version=spec.candidate.version,
            ),
            summary=summary,
        )
    except ActivityError as exc:
        run.note("recovery reading failed", cause(exc))
        return None
    return pair.stable


def _conclude(run: RolloutRun, verdict: RecoveryVerdict, started: datetime, evidence: list[str]) -> None:
    s = run.state
    watched = (workflow.now() - started).total_seconds()
    report = RecoveryReport(
        verdict=verdict,
        after_seconds=watched if verdict == "recovered" else None,
        watched_seconds=watched,
        evidence=evidence,
    )
    s.record.recovery = report
    phrase = recovery_phrase(report)
    if verdict == "not_recovered" and run.operator_view and patched(RECOVERY_OUTCOME_PATCH):
        run.upsert()  # view.outcome_of: rolled_back_not_recovered
    run.note("recovery " + verdict.replace("_", " "), f"stable {phrase}: {evidence[-1]}")
    notify(
        s,
        run.deliveries,
        "recovery",
        f"stable {phrase}" if verdict != "not_recovered" else f"stable NOT recovered within {_short(watched)}",
        "; ".join(evidence),
        verdict=verdict,
        after_seconds=report.after_seconds,
        watched_seconds=watched,
    )
    run.show()


def _short(seconds: float) -> str:
    return format_duration(timedelta(seconds=round(seconds)))
