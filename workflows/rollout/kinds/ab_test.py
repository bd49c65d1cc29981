"""An A/B test item: a sticky split at a set share, judged until one version is named the winner.

The split is set as a canary step's weight is (verified, compensation registered first, the judge's baseline
taken), so the guard is the canary's: a failed criterion or a breached trigger rolls back at once. At every
wake-up the winner rule (``workflows.judge.ab``) reads the judge's statistics: the candidate wins when every
criterion passes and its primary metric is better than stable's with the judge's confidence, and the walk goes on;
stable wins when the candidate is significantly worse, a rollback recorded with cause ``ab_test`` (the test was
lost; no guard failed). At the duration's end without a winner, ``on_no_winner`` keeps stable, holds for a
person's signed promote, or goes on (``promote_unless_worse``: the candidate was never shown worse).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.durations import format_duration
    from models.record import ABResult, ABWinner, StepReport
    from models.strategy import ABTestStep, Step, ab_alpha
    from workflows.judge.ab import Interval, Winner, describe, interval, winner
    from workflows.rollout import custom_metrics
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.custom_metrics import ab_budget
    from workflows.rollout.interrupts import RollbackNeeded
    from workflows.rollout.reconfirm import confirm_override
    from workflows.rollout.steps import end_step, hold, start_step, watch


async def run(run: RolloutRun, index: int, item: ABTestStep) -> None:
    """Split, judge until a winner or the duration, then go on (candidate) or roll back (stable)."""
    s = run.state
    if s.step_index != index or not s.step_applied:
        await start_step(run, index, Step(weight=item.share, observe=item.duration))
        s.record.steps[-1].kind = "ab_test"
        run.note(
            "A/B test started",
            f"stable {100 - item.share:g}% / candidate {item.share:g}% for at most {format_duration(item.duration)}; "
            f"the winner is named on {item.metric}",
        )
    report = s.record.steps[-1]
    alpha = ab_alpha(item.alpha, run.spec.criteria.alpha) if ab_budget(run) else item.alpha or run.spec.criteria.alpha

    definition = custom_metrics.definitions(run).get(item.metric)  # None for quality and the error rate

    def current() -> tuple[Interval | None, Winner | None]:
        found = interval(s.judge_state, item.metric, alpha, definition) if s.judge_state is not None else None
        named = winner(
            found, item.metric, item.min_effect, criteria_pass=report.evidence == "pass", definition=definition
        )
        return found, named

    def decided() -> bool:
        return current()[1] is not None or s.clock.observed(workflow.now()) >= item.duration

    def test_end() -> datetime | None:
        if s.clock.running_since is None:
            return None
        return workflow.now() + (item.duration - s.clock.observed(workflow.now()))

    await watch(
        run,
        index,
        done=decided,
        wake_at=test_end,
        summary=f"A/B test ends: {item.share:g}% observed {format_duration(item.duration)} without a winner",
    )
    found, named = current()
    if named == "candidate":
        _record(report, item, alpha, found, "candidate", "evidence")
        run.note("A/B test: candidate wins", _summary(report))
        end_step(run, index)
        return
    if named == "stable":
        _record(report, item, alpha, found, "stable", "evidence")
        raise RollbackNeeded("ab_test", f"A/B test lost: {_summary(report)}")
    _record(report, item, alpha, found, "no_difference", "duration")
    if item.on_no_winner == "stable":
        raise RollbackNeeded("ab_test", f"A/B test: stable kept, {_summary(report)}")
    if item.on_no_winner == "promote_unless_worse":
        # Not worse: a worse interval would have named stable the winner at any wake-up, and the guard held.
        run.note("A/B test: no winner, candidate not worse, going on", _summary(report))
        end_step(run, index)
        return
    await _hold_for_a_person(run, index, report)


async def _hold_for_a_person(run: RolloutRun, index: int, report: StepReport) -> None:
    """No winner and ``on_no_winner: hold``: a signed promote goes on, an abort or ``hold_max`` rolls back."""
    s = run.state
    s.awaiting_decision = True
    while True:
        await hold(run, index, f"A/B test without a winner ({_summary(report)})", ends_on_pass=False)
        # A promote counts only while its signer's key does: a revocation puts the hold back.
        if not s.trust_operations or await confirm_override(run, index):
            break
    s.awaiting_decision, s.held_since = False, None
    if report.ab_test is not None:
        report.ab_test = report.ab_test.model_copy(update={"decided_by": "person"})
    end_step(run, index)


def _record(
    report: StepReport,
    item: ABTestStep,
    alpha: float,
    found: Interval | None,
    won: ABWinner,
    by: Literal["evidence", "duration"],
) -> None:
    """The outcome on the step's report: winner, estimates, interval, in numbers and in a sentence."""
    phrase = {"candidate": "candidate wins", "stable": "stable wins", "no_difference": "no winner"}[won]
    ended = f" after {format_duration(item.duration)}" if by == "duration" else ""
    report.ab_test = ABResult(
        metric=item.metric,
        winner=won,
        decided_by=by,
        stable=found.stable if found else None,
        candidate=found.candidate if found else None,
        difference=found.difference if found else None,
        lower=found.lower if found else None,
        upper=found.upper if found else None,
        alpha=alpha,
        samples=found.samples if found else (0, 0),
        summary=f"{phrase}{ended}: {describe(found, item.metric, alpha)}",
    )


def _summary(report: StepReport) -> str:
    return report.ab_test.summary if report.ab_test is not None else ""
