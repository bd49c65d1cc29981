"""The ``input_drift`` criterion in an analysis: compare the versions' input histograms, note, hold or roll back.

The comparison is pure (``workflows.drift``); this module keeps the window's start in the state, writes what moved
into the analysis entry and the timeline, and says what the step may do. The window runs from the rollout's first
analysis under the criterion, so a canary's whole population is compared with stable's over the same time.

Behind ``INPUT_DRIFT_PATCH``; only a spec that sets ``criteria.input_drift`` reaches it, so every other rollout
(and every recorded history) runs as before.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.activities import CounterPair
    from workflows import drift
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.interrupts import RollbackNeeded

INPUT_DRIFT_PATCH = "input-drift"


def assess(run: RolloutRun, pair: CounterPair) -> drift.DriftReport | None:
    """The window's report, or None (criterion off, first reading, or a rollout from before the patch)."""
    criterion = run.spec.criteria.input_drift
    if criterion is None or not patched(INPUT_DRIFT_PATCH):
        return None
    s = run.state
    if s.input_baseline is None:
        s.input_baseline = pair
        return None
    report = drift.compare(
        drift.window(s.input_baseline.stable.inputs, pair.stable.inputs),
        drift.window(s.input_baseline.candidate.inputs, pair.candidate.inputs),
        limit=criterion.limit,
        min_count=criterion.min_count,
        method=criterion.method,
        only=criterion.features,
    )
    moved = ", ".join(f.feature for f in report.moved)
    if moved != s.input_drift_noted:
        if moved:
            run.note("input drift", f"the candidate's users differ from stable's in {moved}: {report.line()}")
        else:
            run.note("input drift gone", report.line())
        s.input_drift_noted = moved
    return report


def warning(report: drift.DriftReport | None) -> list[str]:
    """The analysis entry's warning line, when features moved."""
    if report is None or not report.moved:
        return []
    return [f"input drift: {report.line()}"]


def act(run: RolloutRun, report: drift.DriftReport | None) -> bool:
    """Roll back (``on_drift: rollback``) or return True: the step's evidence may not pass while inputs differ."""
    criterion = run.spec.criteria.input_drift
    if report is None or criterion is None or not report.moved:
        return False
    if criterion.on_drift == "rollback":
        raise RollbackNeeded("analysis", f"input drift: {report.line()}")
    return True
