"""A watch item, after promotion: the candidate serves 100% and is judged against stable's recorded behaviour.

At the cutover the rollout reads both versions' counters: stable's cumulative counters then are what it did
before the cutover, and every analysis of the watch compares the candidate's traffic since the cutover with them
(``analysis.analyse`` swaps them in for stable's live counters, which no longer move). Stable stays routable: the
router compensation is still registered, so a failed criterion or a trigger rolls back at once, verified, as any
failure in a canary step does. The watch passes by lasting its duration; the outcome is promoted only then.
Then, when the target has a release hook (the operators' scale-down endpoint), the old version is released through
it (patch ``watch-release-hook``); a hook that fails is recorded and never undoes the promotion.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.durations import format_duration
    from models.phases import Phase
    from models.release import ReleaseInput, ReleaseReport
    from models.strategy import WatchStep
    from workflows.rollout import calls
    from workflows.rollout.analysis import read_counters, start_watch_judge
    from workflows.rollout.context import ROUTER_COMPENSATION, RolloutRun, cause
    from workflows.rollout.kinds.held import at_weight, begin
    from workflows.rollout.steps import end_step, observe, set_weight
    from workflows.rollout.windows import await_window


async def cut_over(run: RolloutRun, index: int, item: WatchStep) -> None:
    """The candidate to 100% (verified), the watch's report opened, stable's counters kept as the baseline."""
    s = run.state
    if s.watching:
        return  # a continued run: the cutover happened in an earlier one
    await await_window(run, "promotion (100%)")
    run.enter(Phase.PROMOTING, f"candidate to 100%, then watched for {format_duration(item.duration)}")
    if ROUTER_COMPENSATION not in s.compensations:
        s.compensations.append(ROUTER_COMPENSATION)  # a blue-green's cutover is its first weight change
    await set_weight(run, 100.0, "promote: candidate to 100%")
    begin(run, index, item.kind, item.duration, f"watch at 100% for {format_duration(item.duration)}")
    s.watching = True
    s.judge_state = None
    try:
        pair = await read_counters(run, "watch: stable's counters at the cutover, the watch's baseline")
    except ActivityError as exc:
        run.note("watch baseline unavailable", f"{cause(exc)}; the first analysis will take it")
    else:
        start_watch_judge(run, pair)
    s.next_analysis_at = workflow.now() + run.spec.analysis_interval
    run.note(
        "watch started",
        f"candidate at 100% judged for {format_duration(item.duration)} against stable's counters at the cutover; "
        "stable stays routable, a failure switches back at once",
    )


async def run(run: RolloutRun, index: int, item: WatchStep) -> None:
    """Judge until the duration is observed; then the rollout is promoted."""
    s = run.state
    await observe(run, index, at_weight(run, item.duration))
    end_step(run, index)
    s.watching = False
    run.note("watch passed", f"candidate judged at 100% for {format_duration(item.duration)} without a failure")
    s.record.outcome = "promoted"
    run.enter(Phase.PROMOTED, "candidate serves 100%, watched")
    await _release(run)


RELEASE_HOOK_PATCH = "watch-release-hook"


async def _release(run: RolloutRun) -> None:
    """The old version through the target's release hook, once; recorded whatever happens, never a rollback."""
    s = run.state
    hook = None if s.target is None else s.target.target.release_hook
    if hook is None or s.record.release is not None or not patched(RELEASE_HOOK_PATCH):
        return
    request = ReleaseInput(
        hook=hook,
        service=run.spec.service,
        released_version=run.spec.stable.version,
        serving_version=run.spec.candidate.version,
        rollout_id=workflow.info().workflow_id,
        idempotency_key=f"{workflow.info().workflow_id}/{workflow.info().first_execution_run_id}/release",
    )
    try:
        result = await calls.release_old_version(request)
    except ActivityError as exc:
        s.record.release = ReleaseReport(
            released_version=request.released_version,
            outcome="failed",
            error=cause(exc)[:300],
            at=workflow.now(),
        )
        run.note("old version not released", f"{run.spec.stable.version}: {cause(exc)}; free it by hand")
        return
    s.record.release = ReleaseReport(
        released_version=request.released_version, outcome="released", status=result.status, at=workflow.now()
    )
    run.note("old version released", f"{run.spec.stable.version} through the operators' release hook")
