"""The forward path: gates, then each step (set the weight, observe, wait for approval), then promotion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.activities import PreflightInput, SetWeightsInput, ShadowInput
    from models.durations import format_duration
    from models.phases import Phase
    from models.record import StepReport
    from models.spec import Step
    from workflows.approvals import quorum_reached
    from workflows.gates import preflight_gate, shadow_gate
    from workflows.rollout import calls
    from workflows.rollout.analysis import take_baseline, watch
    from workflows.rollout.context import ANALYSIS_CADENCE_PATCH, ROUTER_COMPENSATION, RolloutRun
    from workflows.rollout.interrupts import RollbackNeeded


async def forward(run: RolloutRun) -> None:
    """Everything up to the candidate at 100%; resumes where a continued-as-new run left off."""
    spec, s = run.spec, run.state
    if not s.gates_done:
        if spec.preflight is not None:
            await preflight(run)
        if spec.shadow is not None:
            await shadow(run)
        s.gates_done = True
    for index in range(s.step_index, len(spec.steps)):
        step = spec.steps[index]
        if s.step_index != index or not s.step_applied:
            await start_step(run, index, step)
        await observe(run, index, step)
        if step.approval:
            await await_approval(run, index)
        end_step(run, index)
    await promote(run)


async def preflight(run: RolloutRun) -> None:
    spec = run.spec
    assert spec.preflight is not None
    run.enter(Phase.PREFLIGHT, "preflight eval gate")
    result = await run.interruptible(
        calls.run_preflight(PreflightInput(preflight=spec.preflight), summary="preflight: fetch candidate eval score"),
        failure_cause="preflight",
    )
    gate = preflight_gate(result)
    run.state.record.gates.append(gate)
    run.note("preflight " + ("passed" if gate.passed else "failed"), gate.summary)
    if not gate.passed:
        raise RollbackNeeded("preflight", f"preflight eval gate failed: {gate.summary}")


async def shadow(run: RolloutRun) -> None:
    spec = run.spec
    assert spec.shadow is not None and spec.stable.endpoint and spec.candidate.endpoint
    run.enter(Phase.SHADOW, f"shadow comparison of up to {spec.shadow.max_requests} requests")
    result = await run.interruptible(
        calls.run_shadow(
            ShadowInput(
                shadow=spec.shadow, stable_endpoint=spec.stable.endpoint, candidate_endpoint=spec.candidate.endpoint
            ),
            summary=f"shadow: replay {spec.shadow.max_requests} requests to both versions",
        ),
        failure_cause="shadow",
    )
    gate = shadow_gate(result, min_agreement=spec.shadow.min_agreement, criteria=spec.criteria)
    run.state.record.gates.append(gate)
    run.note("shadow " + ("passed" if gate.passed else "failed"), gate.summary)
    if not gate.passed:
        raise RollbackNeeded("shadow", f"shadow comparison failed: {gate.summary}")


async def start_step(run: RolloutRun, index: int, step: Step) -> None:
    spec, s = run.spec, run.state
    s.step_index, s.step_applied = index, False
    run.enter(Phase.CANARY, f"step {index + 1}/{len(spec.steps)}: {step.weight:g}% for {format_duration(step.observe)}")
    if ROUTER_COMPENSATION not in s.compensations:
        # Registered before the first weight change: a half-applied change is undone too.
        s.compensations.append(ROUTER_COMPENSATION)
    await set_weight(run, step.weight, f"canary: set candidate to {step.weight:g}%")
    now = workflow.now()
    s.record.steps.append(
        StepReport(index=index, weight=step.weight, observe_seconds=step.observe.total_seconds(), started_at=now)
    )
    s.clock.observed_before, s.clock.running_since = 0.0, None
    if s.paused_by is None:
        s.clock.start(now)
    s.judge_state, s.consecutive_failures, s.approved_by, s.approval_deadline = None, 0, [], None
    s.step_applied = True
    await take_baseline(run)
    if workflow.patched(ANALYSIS_CADENCE_PATCH):
        # Anchored to the step's start, so the last analysis lands exactly at the step's end.
        s.next_analysis_at = now + spec.analysis_interval
    else:
        s.next_analysis_at = workflow.now() + spec.analysis_interval


async def set_weight(run: RolloutRun, weight: float, summary: str) -> None:
    spec, s = run.spec, run.state
    state = await calls.set_weights(
        SetWeightsInput(router=spec.router, service=spec.service, candidate_weight=weight), summary=summary
    )
    s.weight = state.candidate
    s.record.final_weight = state.candidate
    run.note("weight set", f"stable {state.stable:g}% / candidate {state.candidate:g}% (verified)")
    run.upsert()


async def observe(run: RolloutRun, index: int, step: Step) -> None:
    s = run.state
    run.enter(Phase.CANARY)

    def observed_enough() -> bool:
        return s.clock.observed(workflow.now()) >= step.observe

    def step_end() -> datetime | None:
        if s.clock.running_since is None:
            return None
        return workflow.now() + (step.observe - s.clock.observed(workflow.now()))

    await watch(
        run,
        index,
        done=observed_enough,
        wake_at=step_end,
        summary=f"observe {step.weight:g}% for {format_duration(step.observe)}",
    )


async def await_approval(run: RolloutRun, index: int) -> None:
    spec, s = run.spec, run.state
    assert spec.approvals is not None
    policy = spec.approvals
    if s.approval_deadline is None:
        s.approval_deadline = workflow.now() + policy.timeout
    run.enter(Phase.AWAITING_APPROVAL, f"step {index + 1} needs {policy.quorum} of {', '.join(policy.approvers)}")

    def approved() -> bool:
        return quorum_reached(frozenset(s.approved_by), policy.quorum)

    deadline: datetime | None = s.approval_deadline
    while not await watch(
        run,
        index,
        done=approved,
        wake_at=_constant(deadline),
        deadline=deadline,
        summary=f"approval of step {index + 1}",
    ):
        if policy.on_timeout == "rollback":
            raise RollbackNeeded(
                "approval_timeout",
                f"approval quorum {policy.quorum} not reached within {format_duration(policy.timeout)} "
                f"(approved: {', '.join(s.approved_by) or 'nobody'})",
            )
        run.note("approval timed out", "on_timeout=wait: still waiting for the quorum")
        deadline = None
    run.note("approved", f"quorum {policy.quorum} reached: {', '.join(s.approved_by)}")
    run.enter(Phase.CANARY)


def end_step(run: RolloutRun, index: int) -> None:
    s = run.state
    report = s.record.steps[-1]
    report.ended_at = workflow.now()
    report.observed_seconds = s.clock.observed(workflow.now()).total_seconds()
    s.step_index, s.step_applied = index + 1, False
    run.note(
        f"step {index + 1} complete",
        f"observed {format_duration(timedelta(seconds=round(report.observed_seconds)))}",
    )


async def promote(run: RolloutRun) -> None:
    run.enter(Phase.PROMOTING, "candidate to 100%")
    await set_weight(run, 100.0, "promote: candidate to 100%")
    run.state.record.outcome = "promoted"
    run.enter(Phase.PROMOTED, "candidate serves 100%")


def _constant(value: datetime | None) -> Callable[[], datetime | None]:
    return lambda: value
