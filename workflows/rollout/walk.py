"""The walker: the gates, then the plan's items one by one (each by its kind's module), then promotion.

``plan.plan_of`` gives one plan for either shape of spec. A spec in the steps shape walks exactly the path it
walked before strategies (same commands, so recorded histories replay); only a strategy's items add new ones.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from workflows.rollout import kinds, moves
    from workflows.rollout.analysis import check_testability
    from workflows.rollout.context import DECISION_PATCH, RolloutRun
    from workflows.rollout.kinds import watch
    from workflows.rollout.plan import plan_of, split_watch
    from workflows.rollout.reconfirm import confirm_final
    from workflows.rollout.steps import eval_suite, preflight, promote, shadow


async def forward(run: RolloutRun) -> None:
    """Everything up to the candidate at 100% (and watched); resumes where a continued-as-new run left off."""
    spec, s = run.spec, run.state
    if not s.gates_done:
        if spec.preflight is not None:
            await preflight(run)
        if spec.eval is not None:
            await eval_suite(run)
        if spec.shadow is not None:
            await shadow(run)
        s.gates_done = True
    if s.step_index == 0 and not s.step_applied and not s.record.steps and patched(DECISION_PATCH):
        await check_testability(run)
    before, after = split_watch(plan_of(spec))
    index = s.step_index
    while index < len(before):
        # A manual move (skip, full) is made where the walk waits, or here before an item starts.
        if s.move_pending is not None and not s.step_applied:
            index = moves.make(run, index, len(before))
            continue
        try:
            await kinds.walk(run, index, before[index])
        except moves.MoveRequested:
            index = moves.make(run, index, len(before))
            continue
        index += 1
    if s.move_pending is not None:
        moves.make(run, len(before), len(before))  # accepted as the last item ended: nothing left to leave out
    if after is None:
        if s.trust_operations:
            await confirm_final(run)
        await promote(run)
        return
    if not s.watching:
        if s.trust_operations:
            await confirm_final(run)
        await watch.cut_over(run, len(before), after)
    await watch.run(run, len(before), after)
