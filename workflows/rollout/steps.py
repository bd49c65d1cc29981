"""The forward path's parts: the gates, a canary step (set the weight, observe, decide, approval), promotion.

The walker (``walk.forward``) runs them in the order the plan says; each strategy item kind has its module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.activities import PreflightInput, SetWeightsInput, ShadowInput
    from models.durations import format_duration
    from models.evals import EvalInput
    from models.phases import Phase
    from models.record import CriterionEvidence, GateReport, StepReport
    from models.segments import Segment, describe
    from models.spec import Step, UnleashRouter
    from workflows.approvals import quorum_reached
    from workflows.eval_gate import eval_gate
    from workflows.gates import latency_limit, preflight_gate, shadow_gate
    from workflows.rollout import calls
    from workflows.rollout.analysis import take_baseline
    from workflows.rollout.analysis import watch as watch_analyses
    from workflows.rollout.context import (
        ANALYSIS_CADENCE_PATCH,
        DECISION_PATCH,
        ROUTER_COMPENSATION,
        SHADOW_P95_TEST_PATCH,
        RolloutRun,
    )
    from workflows.rollout.interrupts import RollbackNeeded
    from workflows.rollout.reconfirm import confirm_override, confirm_quorum
    from workflows.rollout.windows import await_window
    from workflows.trust import pause_deadline, pause_limit


async def watch(
    run: RolloutRun,
    index: int,
    *,
    done: Callable[[], bool],
    wake_at: Callable[[], datetime | None],
    summary: str,
    deadline: datetime | None = None,
) -> bool:
    """Analyses until ``done()`` (``analysis.watch``); under trust-operations a pause ends at ``max_pause``.

    A pause keeps the lease and the traffic split, so it may not last for ever: the policy says how long, and
    whether its end rolls back or holds the step for a person.
    """
    if not run.state.trust_operations:
        return await watch_analyses(run, index, done=done, wake_at=wake_at, summary=summary, deadline=deadline)

    def end_or_pause_limit() -> datetime | None:
        hint, limit = wake_at(), _pause_end(run)
        return limit if hint is None or (limit is not None and limit < hint) else hint

    while True:
        finished = await watch_analyses(
            run,
            index,
            done=lambda: done() or _paused_too_long(run),
            wake_at=end_or_pause_limit,
            summary=summary,
            deadline=deadline,
        )
        if not _paused_too_long(run):
            return finished
        await pause_limit_reached(run, index)


def _pause_end(run: RolloutRun) -> datetime | None:
    return pause_deadline(run.state.paused_at, pause_limit(run.state.policy))


def _paused_too_long(run: RolloutRun) -> bool:
    end = _pause_end(run)
    return end is not None and workflow.now() >= end


async def pause_limit_reached(run: RolloutRun, index: int) -> None:
    """The policy's ``on_max_pause``: roll back, or end the pause and hold the step for a person (an alert)."""
    s = run.state
    limit = pause_limit(s.policy)
    who, since = s.paused_by or "?", s.paused_at or workflow.now()
    bound = format_duration(limit.max_pause)
    if limit.action == "rollback":
        raise RollbackNeeded(
            "max_pause",
            f"paused by {who} since {since:%Y-%m-%d %H:%M:%S} UTC, longer than the policy's max_pause {bound} "
            "(on_max_pause=rollback)",
        )
    s.paused_by, s.paused_at = None, None
    s.clock.start(workflow.now())
    run.note(
        "alert: pause limit",
        f"paused by {who} longer than the policy's max_pause {bound}: the pause ends and step {index + 1} is held "
        "for a person (on_max_pause=hold)",
    )
    phase, awaiting, held_since = s.phase, s.awaiting_decision, s.held_since
    s.awaiting_decision, s.held_since = True, None
    while True:
        await hold(run, index, f"paused by {who} longer than max_pause {bound}", ends_on_pass=False)
        if await confirm_override(run, index):
            break
    s.awaiting_decision, s.held_since = awaiting, held_since
    if phase is not Phase.INCONCLUSIVE and s.phase is not phase:
        run.enter(phase)


async def preflight(run: RolloutRun) -> None:
    """The eval gate, before any traffic moves."""
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


async def eval_suite(run: RolloutRun) -> None:
    """The operators' eval suite on both versions, held to its locked baseline, before any traffic moves."""
    spec, s = run.spec, run.state
    assert spec.eval is not None and spec.stable.endpoint and spec.candidate.endpoint
    assert s.target is not None  # validate_spec and choose_target: the eval gate needs a named target's suite
    suite = s.target.target.eval_suites[spec.eval.suite]
    run.enter(Phase.PREFLIGHT, f"eval suite {spec.eval.suite}")
    result = await run.interruptible(
        calls.run_eval(
            EvalInput(
                suite_name=spec.eval.suite,
                suite=suite,
                stable_endpoint=spec.stable.endpoint,
                candidate_endpoint=spec.candidate.endpoint,
                concurrency=spec.eval.concurrency,
                request_timeout_seconds=spec.eval.request_timeout.total_seconds(),
            ),
            summary=f"eval: suite {spec.eval.suite} on both versions",
        ),
        failure_cause="preflight",
    )
    gate = eval_gate(result, suite)
    s.record.gates.append(gate)
    run.note("eval " + ("passed" if gate.passed else "failed"), gate.summary)
    if not gate.passed:
        raise RollbackNeeded("preflight", f"eval gate failed: {gate.summary}")


async def replay_and_judge(run: RolloutRun, task: ShadowInput, *, min_agreement: float, summary: str) -> GateReport:
    """Replay to both versions and judge the answers: the one path of the spec's shadow gate and of shadow items.

    Since ``shadow-p95-test`` the replay also tests the candidate's p95 against the criterion (ADR 39); the
    patch is checked before the replay is scheduled, because it decides the activity's input.
    """
    criteria = run.spec.criteria
    tested = patched(SHADOW_P95_TEST_PATCH)
    if tested:
        task = task.model_copy(update={"latency_limit": latency_limit(criteria)})
    result = await run.interruptible(calls.run_shadow(task, summary=summary), failure_cause="shadow")
    return shadow_gate(
        result,
        min_agreement=min_agreement,
        criteria=criteria,
        tested=tested,
        trigger=run.spec.rollback_triggers.latency_p95_ratio,
    )


async def shadow(run: RolloutRun) -> None:
    """The shadow comparison, before any traffic moves: both versions answer, only stable is served."""
    spec = run.spec
    assert spec.shadow is not None and spec.stable.endpoint and spec.candidate.endpoint
    run.enter(Phase.SHADOW, f"shadow comparison of up to {spec.shadow.max_requests} requests")
    gate = await replay_and_judge(
        run,
        run.shadow_input(),
        min_agreement=spec.shadow.min_agreement,
        summary=f"shadow: replay {spec.shadow.max_requests} requests to both versions",
    )
    run.state.record.gates.append(gate)
    run.note("shadow " + ("passed" if gate.passed else "failed"), gate.summary)
    if not gate.passed:
        raise RollbackNeeded("shadow", f"shadow comparison failed: {gate.summary}")


async def start_step(run: RolloutRun, index: int, step: Step) -> None:
    """Set the step's weight (compensation registered first), start its clock, take the counters' baseline."""
    spec, s = run.spec, run.state
    await await_window(run, f"step {index + 1} ({step.weight:g}%)")
    s.step_index, s.step_applied = index, False
    run.enter(Phase.CANARY, f"step {index + 1}/{len(spec.steps)}: {step.weight:g}% for {format_duration(step.observe)}")
    if ROUTER_COMPENSATION not in s.compensations:
        # Registered before the first weight change: a half-applied change is undone too.
        s.compensations.append(ROUTER_COMPENSATION)
    if step.segments:
        within = describe(step.segments)
        await set_weight(run, step.weight, f"canary: set candidate to {step.weight:g}% of {within}", step.segments)
    else:
        await set_weight(run, step.weight, f"canary: set candidate to {step.weight:g}%")
    now = workflow.now()
    s.record.steps.append(
        StepReport(
            index=index,
            weight=step.weight,
            observe_seconds=step.observe.total_seconds(),
            started_at=now,
            segments=list(step.segments),  # what set_weight's activity verified the router holds
        )
    )
    s.clock.observed_before, s.clock.running_since = 0.0, None
    if s.paused_by is None:
        s.clock.start(now)
    if s.judge_state is not None and s.judge_state.whole_rollout:
        # The whole-rollout judge carries its error-rate evidence into the next step (ADR 13).
        s.judge_carried = s.judge_state
    s.judge_state, s.approved_by, s.approval_deadline = None, [], None
    s.awaiting_decision, s.held_since = False, None
    if not patched(DECISION_PATCH):
        # Before the patch the failure count restarted with every step, so short steps never met the policy.
        s.consecutive_failures = 0
    s.step_applied = True
    await take_baseline(run)
    if patched(ANALYSIS_CADENCE_PATCH):
        # Anchored to the step's start, so the last analysis lands exactly at the step's end.
        s.next_analysis_at = now + spec.analysis_interval
    else:
        s.next_analysis_at = workflow.now() + spec.analysis_interval


async def set_weight(run: RolloutRun, weight: float, summary: str, segments: Sequence[Segment] = ()) -> None:
    """Move traffic and record the weights (and targeting) the router confirmed."""
    spec, s = run.spec, run.state
    state = await calls.set_weights(
        SetWeightsInput(router=run.router(), service=spec.service, candidate_weight=weight, segments=list(segments)),
        summary=summary,
    )
    s.weight = state.candidate
    s.record.final_weight = state.candidate
    router = run.router()
    if isinstance(router, UnleashRouter):
        s.record.flag = router.flag
    within = f" of {describe(state.segments)}" if state.segments else ""
    run.note("weight set", f"stable {state.stable:g}% / candidate {state.candidate:g}%{within} (verified)")
    run.upsert()


async def observe(run: RolloutRun, index: int, step: Step) -> None:
    """Watch the step for its observation time (paused time does not count)."""
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
        summary=f"step {index + 1} ends: {step.weight:g}% observed {format_duration(step.observe)}",
    )


async def decide(run: RolloutRun, index: int, step: Step) -> None:
    """Move on only on evidence: every criterion ``pass``, or a person's recorded override.

    Otherwise the spec's ``on_inconclusive`` policy: extend the observation (ending early once the evidence
    passes), then hold the step for a person or roll back. A step with no successful analysis has no evidence.
    """
    spec, s = run.spec, run.state
    policy = spec.on_inconclusive
    report = s.record.steps[-1]

    def settled() -> bool:
        return report.evidence in ("pass", "override")

    extra = policy.extend_by or step.observe
    while True:
        await _settle(run, index, step, settled, extra)
        # An override counts only while its signer's key does: a revocation sends the step back to waiting.
        if not s.trust_operations or report.evidence != "override" or await confirm_override(run, index):
            break
    s.awaiting_decision, s.held_since = False, None


async def _settle(run: RolloutRun, index: int, step: Step, settled: Callable[[], bool], extra: timedelta) -> None:
    """Extend, then hold or roll back, until the step's evidence passes or a person overrides."""
    spec, s = run.spec, run.state
    policy = spec.on_inconclusive
    report = s.record.steps[-1]
    while not settled():
        s.awaiting_decision = True
        target = step.observe + extra * report.extensions
        if s.clock.observed(workflow.now()) < target:  # an extension under way (also after continue-as-new)
            await watch(
                run,
                index,
                done=_settled_or_observed(run, target),
                wake_at=_clock_end(run, target),
                summary=f"extension {report.extensions} ends: {step.weight:g}% observed {format_duration(extra)} more",
            )
            continue
        if report.extensions < policy.max_extensions:
            report.extensions += 1
            run.note(
                "evidence inconclusive",
                f"step {index + 1}: {shortfall(report.evidence, report.final)}; observing {format_duration(extra)} "
                f"more (extension {report.extensions}/{policy.max_extensions})",
            )
            run.upsert()
            continue
        why = shortfall(report.evidence, report.final)
        if policy.then == "rollback":
            raise RollbackNeeded(
                "inconclusive",
                f"step {index + 1} ended without passing evidence after {report.extensions} extension(s): {why}",
            )
        await hold(run, index, why)


async def hold(run: RolloutRun, index: int, why: str, *, ends_on_pass: bool = True) -> None:
    """Hold the step for a person.

    Analyses go on (a pass moves on, a failure rolls back), ``promote`` overrides, ``abort`` rolls back; after
    ``hold_max`` the rollout rolls back by itself. A hold that is about a person, not evidence (a pause past its
    bound), has ``ends_on_pass`` False: only a decision ends it.
    """
    spec, s = run.spec, run.state
    report = s.record.steps[-1]
    if s.held_since is None:
        s.held_since = workflow.now()
    deadline = s.held_since + spec.on_inconclusive.hold_max
    run.enter(
        Phase.INCONCLUSIVE,
        f"step {index + 1} held: {why}; an approver may promote with a reason, anyone may abort; "
        f"rolls back at {deadline:%Y-%m-%d %H:%M} UTC",
    )
    if not await watch(
        run,
        index,
        done=lambda: report.evidence == "override" or (ends_on_pass and report.evidence == "pass"),
        wake_at=_constant(deadline),
        deadline=deadline,
        summary=f"hold deadline {deadline:%H:%M} UTC: step {index + 1} rolls back without evidence or a decision",
    ):
        raise RollbackNeeded(
            "inconclusive",
            f"step {index + 1} held {format_duration(spec.on_inconclusive.hold_max)} without passing evidence "
            f"or a decision: {why}",
        )
    run.enter(Phase.CANARY, f"step {index + 1}: {'override' if report.evidence == 'override' else 'evidence passed'}")


def shortfall(evidence: str, final: Sequence[CriterionEvidence]) -> str:
    """Why a step's evidence is not a pass, in a line."""
    if evidence == "none" or not final:
        return "no successful analysis in this step"
    open_ = [f"{e.name} {e.verdict}" for e in final if e.verdict != "pass"]
    return "not every criterion passes (" + ", ".join(open_) + ")" if open_ else "the judge has not said pass"


def _settled_or_observed(run: RolloutRun, target: timedelta) -> Callable[[], bool]:
    report = run.state.record.steps[-1]
    clock = run.state.clock
    return lambda: report.evidence in ("pass", "override") or clock.observed(workflow.now()) >= target


def _clock_end(run: RolloutRun, target: timedelta) -> Callable[[], datetime | None]:
    """When the step clock reaches ``target`` if it keeps running (None while paused)."""
    clock = run.state.clock

    def end() -> datetime | None:
        if clock.running_since is None:
            return None
        now = workflow.now()
        return now + (target - clock.observed(now))

    return end


async def await_approval(run: RolloutRun, index: int) -> None:
    """Wait for the quorum (analyses go on); at the deadline roll back or keep waiting, as the spec says."""
    spec, s = run.spec, run.state
    assert spec.approvals is not None
    policy = spec.approvals
    if s.approval_deadline is None:
        s.approval_deadline = workflow.now() + policy.timeout
    run.enter(Phase.AWAITING_APPROVAL, f"step {index + 1} needs {policy.quorum} of {', '.join(policy.approvers)}")

    def approved() -> bool:
        return quorum_reached(frozenset(s.approved_by), policy.quorum)

    deadline: datetime | None = s.approval_deadline
    while True:
        while not await watch(
            run,
            index,
            done=approved,
            wake_at=_constant(deadline),
            deadline=deadline,
            summary="re-check approvals" if deadline is None else f"approval deadline {deadline:%H:%M} UTC",
        ):
            if policy.on_timeout == "rollback":
                raise RollbackNeeded(
                    "approval_timeout",
                    f"approval quorum {policy.quorum} not reached within {format_duration(policy.timeout)} "
                    f"(approved: {', '.join(s.approved_by) or 'nobody'})",
                )
            run.note("approval timed out", "on_timeout=wait: still waiting for the quorum")
            deadline = None
        # The quorum counts only with keys that are still good: a revoked one drops out and the wait goes on.
        if not s.trust_operations or await confirm_quorum(run, index):
            break
    run.note("approved", f"quorum {policy.quorum} reached: {', '.join(s.approved_by)}")
    run.enter(Phase.CANARY)


def end_step(run: RolloutRun, index: int) -> None:
    """Close the step's report and move the cursor to the next step."""
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
    """The candidate to 100%: reached only after every step moved on by evidence or override."""
    await await_window(run, "promotion (100%)")
    run.enter(Phase.PROMOTING, "candidate to 100%")
    await set_weight(run, 100.0, "promote: candidate to 100%")
    run.state.record.outcome = "promoted"
    run.enter(Phase.PROMOTED, "candidate serves 100%")


def _constant(value: datetime | None) -> Callable[[], datetime | None]:
    return lambda: value
