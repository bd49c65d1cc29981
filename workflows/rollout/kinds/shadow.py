"""A shadow item: before any user traffic, one of the target's replay sets sent to both versions and compared.

The same activity and the same judgement as the spec's ``shadow`` gate (``activities.shadow.run_shadow``,
``workflows.gates.shadow_gate``): only stable's answers are ever served, so the router is never touched and a
failure rolls back with no traffic to move back. What the gate keeps in ``record.gates``, the item keeps on its
own step report (``StepReport.shadow``), so a strategy's record reads step by step: agreement, requests compared,
both versions' errors. The request file comes from the operators' target by name (``replay``), never from the spec.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.activities import ShadowInput
    from models.phases import Phase
    from models.record import StepReport
    from models.spec import ShadowSpec
    from models.strategy import ShadowStep
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.interrupts import RollbackNeeded
    from workflows.rollout.kinds import mirror
    from workflows.rollout.plan import plan_of
    from workflows.rollout.steps import end_step, replay_and_judge


def replay_input(run: RolloutRun, item: ShadowStep) -> ShadowInput:
    """The activity's input: the item's settings, the file its ``replay`` names in the target's replay sets."""
    spec, target = run.spec, run.state.target
    assert spec.stable.endpoint and spec.candidate.endpoint  # validate_spec: a shadow item needs both
    assert target is not None  # resolve_target: a shadow item needs a named target (inline ones have no sets)
    assert item.replay is not None  # strategy_problems: a replay names its set
    shadow = ShadowSpec(
        requests_file=target.target.replay_sets[item.replay],
        max_requests=item.max_requests,
        concurrency=item.concurrency,
        request_timeout=item.request_timeout,
        compare=item.compare,
        min_agreement=item.min_agreement,
    )
    return ShadowInput(shadow=shadow, stable_endpoint=spec.stable.endpoint, candidate_endpoint=spec.candidate.endpoint)


async def run(run: RolloutRun, index: int, item: ShadowStep) -> None:
    """Replay, compare, judge; pass on to the next item, or roll back (nothing had moved) naming the agreement.

    A mirror-mode item is ``kinds.mirror``'s: live traffic copied by the router rather than a recorded set.
    """
    if item.mode == "mirror":
        await mirror.run(run, index, item)
        return
    s = run.state
    s.step_index, s.step_applied = index, False
    run.enter(
        Phase.SHADOW,
        f"step {index + 1}/{len(plan_of(run.spec))}: shadow replay of up to {item.max_requests} requests "
        f"({item.replay})",
    )
    report = StepReport(index=index, kind="shadow", weight=s.weight, observe_seconds=0.0, started_at=workflow.now())
    s.record.steps.append(report)
    s.step_applied = True
    run.upsert()
    gate = await replay_and_judge(
        run,
        replay_input(run, item),
        min_agreement=item.min_agreement,
        summary=f"shadow step {index + 1}: replay {item.max_requests} of {item.replay} to both versions",
    )
    report.shadow = gate
    report.evidence = "pass" if gate.passed else "none"
    run.note(f"shadow step {index + 1} " + ("passed" if gate.passed else "failed"), gate.summary)
    if not gate.passed:
        report.ended_at = workflow.now()
        raise RollbackNeeded("shadow", f"shadow step {index + 1} failed: {gate.summary}")
    end_step(run, index)
    run.upsert()
