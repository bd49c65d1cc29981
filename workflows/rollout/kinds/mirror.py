"""A shadow item in mirror mode: the router copies live requests to the candidate, judged, then mirror off.

No user ever gets a candidate answer: the weight stays at 0% and the router sends the candidate a copy of each
request, discarding its answer. The judge is a canary's (``steps.observe`` and ``decide``) on the target's
metrics: the candidate's counters grow by the copies it serves, so its error rate and latency are held to
stable's on the same requests, with the same criteria, extensions and holds. What the metrics cannot say is
whether the answers agree (nobody compares them; that is the replay mode's job), and the candidate's quality is
judged only where its metrics score the mirrored answers.

The router compensation is registered before the mirror goes on, so a rollback or an abort during the item, and
the lease's orphan rollback, route stable to 100% with the mirror off: every ``set_weights`` that does not ask
for a mirror switches it off, and the activity verifies that by reading back. At the item's end the mirror is
switched off the same way, verified, before the first canary step moves any traffic, and so it is when a signed
``skip`` or ``full`` leaves the item early.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.activities import SetWeightsInput
    from models.durations import format_duration
    from models.phases import Phase
    from models.record import StepReport
    from models.strategy import ShadowStep, Step
    from workflows.rollout import calls, moves
    from workflows.rollout.analysis import take_baseline
    from workflows.rollout.context import ROUTER_COMPENSATION, RolloutRun
    from workflows.rollout.plan import plan_of
    from workflows.rollout.steps import decide, end_step, observe
    from workflows.rollout.windows import await_window


def mirror_step(item: ShadowStep) -> Step:
    """The item as a step at 0% for the canary machinery (a ``Step`` must be above 0%, hence no validation)."""
    assert item.duration is not None  # strategy_problems: a mirror has a duration
    return Step.model_construct(weight=0.0, observe=item.duration, approval=False, segments=[])


async def run(run: RolloutRun, index: int, item: ShadowStep) -> None:
    """Mirror on (verified), observe and judge for the duration, mirror off (verified); a failure rolls back."""
    s = run.state
    step = mirror_step(item)
    if s.step_index != index or not s.step_applied:
        await _mirror_on(run, index, step)
    try:
        await observe(run, index, step)
        await decide(run, index, step)
    except moves.MoveRequested:
        # A signed skip or full leaves the item here: the mirror goes off first, whatever the walk runs next.
        await _mirror_off(run, index)
        raise
    await _mirror_off(run, index)
    end_step(run, index)
    run.upsert()


async def _mirror_off(run: RolloutRun, index: int) -> None:
    await _set_mirror(run, False, f"shadow step {index + 1}: mirror off, stable 100%")
    run.state.judge_state = None  # the first canary step's judge starts on its own traffic, not the copies


async def _mirror_on(run: RolloutRun, index: int, step: Step) -> None:
    """Compensation first, then the mirror; the report, the clock and the judge's baseline start from here."""
    spec, s = run.spec, run.state
    await await_window(run, f"step {index + 1} (mirror)")
    s.step_index, s.step_applied = index, False
    run.enter(
        Phase.SHADOW,
        f"step {index + 1}/{len(plan_of(spec))}: mirror live traffic to the candidate for "
        f"{format_duration(step.observe)} (answers discarded)",
    )
    if ROUTER_COMPENSATION not in s.compensations:
        s.compensations.append(ROUTER_COMPENSATION)  # before the mirror: a half-applied change is undone too
    await _set_mirror(run, True, f"shadow step {index + 1}: mirror live traffic to the candidate")
    now = workflow.now()
    s.record.steps.append(
        StepReport(index=index, kind="shadow", weight=0.0, observe_seconds=step.observe.total_seconds(), started_at=now)
    )
    s.clock.observed_before, s.clock.running_since = 0.0, None
    if s.paused_by is None:
        s.clock.start(now)
    s.judge_state, s.approved_by, s.approval_deadline = None, [], None
    s.awaiting_decision, s.held_since = False, None
    s.step_applied = True
    await take_baseline(run)
    s.next_analysis_at = now + spec.analysis_interval


async def _set_mirror(run: RolloutRun, on: bool, summary: str) -> None:
    """Stable at 100% with the mirror on or off, as the router reads it back (the activity checks both)."""
    spec, s = run.spec, run.state
    state = await calls.set_weights(
        SetWeightsInput(router=run.router(), service=spec.service, candidate_weight=0.0, mirror=on), summary=summary
    )
    s.weight = state.candidate
    s.record.final_weight = state.candidate
    run.note(
        "mirror on" if on else "mirror off",
        f"stable {state.stable:g}% / candidate {state.candidate:g}%, mirror {'on' if state.mirror else 'off'} "
        "(verified)",
    )
    run.upsert()
