"""The Rollout workflow: one execution moves one candidate version past stable, or puts stable back.

validate -> preflight -> shadow -> for each step: set weight, observe with analysis every interval, approval
-> promote. Any failure, abort, rejection or cancellation runs the registered compensations in reverse, router
first, shielded from cancellation. All I/O is in activities; the decisions are pure modules beside this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        CounterPair,
        PreflightInput,
        PreflightResult,
        ReadCountersInput,
        RouterState,
        SetWeightsInput,
        ShadowInput,
        ShadowResult,
    )
    from workflows import search_attributes as sa
    from workflows.approvals import (
        NAME_MAX,
        SIGNAL_NAMES,
        TEXT_MAX,
        Abort,
        Accepted,
        Approve,
        Pause,
        Reject,
        Rejected,
        Resume,
        SignalContext,
        SignalName,
        assess,
        quorum_reached,
    )
    from workflows.durations import format_duration
    from workflows.gates import preflight_gate, shadow_gate
    from workflows.judge import JudgeMethod, judge, new_judge_state
    from workflows.lease import LeaseHolder, LeaseRequest
    from workflows.phases import Phase
    from workflows.record import (
        AnalysisEntry,
        ApprovalEntry,
        CriterionEvidence,
        DeploymentRecord,
        RollbackCause,
        RollbackReport,
        SignalRejection,
        StepReport,
        TimelineEntry,
        evidence_line,
        render_markdown,
        strategy_of,
    )
    from workflows.spec import RolloutSpec, SpecError, Step, criteria_fingerprint, validate_spec
    from workflows.state import RolloutResult, RolloutState, RolloutStatus

FORWARD_ROUTER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=6
)
ROLLBACK_ROUTER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5), maximum_attempts=0
)
"""Rollback retries until the router confirms: there is no state worse than a half-done rollback."""
METRICS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=3
)
GATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(seconds=30), maximum_attempts=3
)
CONTINUE_AS_NEW_EVENTS = 4_000
"""Continue-as-new past this many events, well below Temporal's 10k warning, to keep every run's history small."""
ROUTER_COMPENSATION = "route_all_to_stable"
SEQUENTIAL_JUDGE_PATCH = "sequential-judge"
SERVICE_LEASE_PATCH = "service-lease"
ANALYSIS_CADENCE_PATCH = "analysis-cadence"


class RollbackNeeded(Exception):
    """Raised inside the forward path: stop going forward and run the compensations."""

    def __init__(self, cause: RollbackCause, reason: str, by: str | None = None) -> None:
        super().__init__(reason)
        self.cause, self.reason, self.by = cause, reason, by


def _evidence(results: Sequence[Any]) -> list[CriterionEvidence]:
    return [
        CriterionEvidence(
            name=r.name,
            verdict=r.verdict,
            stable=r.stable_estimate,
            candidate=r.candidate_estimate,
            observed=r.observed,
            limit=r.limit,
            lower=r.lower_bound,
            upper=r.upper_bound,
            e_value=r.e_value,
            samples=(r.samples_stable, r.samples_candidate),
            note=r.note,
        )
        for r in results
    ]


@workflow.defn(name="Rollout", failure_exception_types=[ValidationError])
class RolloutWorkflow:
    @workflow.init
    def __init__(self, spec: Any, carried: RolloutState | None = None) -> None:
        self._raw_spec = spec
        self._spec: RolloutSpec | None = None
        self._s: RolloutState | None = carried
        self._abort: RollbackNeeded | None = None
        self._wakeups = 0  # bumped by every accepted signal so waits re-check their conditions

    # ---------------------------------------------------------------- run

    @workflow.run
    async def run(self, spec: Any, carried: RolloutState | None = None) -> RolloutResult:
        """``spec`` is taken raw (any JSON) and validated here, so a bad one fails the workflow with every
        problem listed, instead of failing the workflow task forever in the data converter."""
        self._spec = self._validate(spec)
        s = self._state()
        if carried is None:
            self._note("started", f"{self._spec.stable.version} -> {self._spec.candidate.version}")
        else:
            s.record.continued_as_new += 1
        workflow.set_current_details(self._details())
        leased = workflow.patched(SERVICE_LEASE_PATCH)
        if leased:
            await self._acquire_lease()
        # Released on every ending but continue-as-new (same holder next run) and worker eviction (the run goes
        # on elsewhere): hence Exception and CancelledError, not a `finally`.
        try:
            result = await self._run_forward_or_roll_back()
        except (Exception, asyncio.CancelledError):
            if leased:
                await self._shielded(self._release_lease())
            raise
        if leased:
            await self._shielded(self._release_lease())
        return result

    async def _run_forward_or_roll_back(self) -> RolloutResult:
        try:
            try:
                await self._forward()
            except ActivityError as exc:
                raise RollbackNeeded("router_error", f"forward action failed: {_cause(exc)}") from exc
        except RollbackNeeded as rollback:
            await self._shielded(self._roll_back(rollback))
        except asyncio.CancelledError:
            await self._shielded(self._roll_back(RollbackNeeded("cancelled", "the workflow was cancelled")))
            raise
        return self._finish()

    async def _acquire_lease(self) -> None:
        """One running rollout per service: fail at once, naming the running one, if another holds the lease."""
        spec, s = self._require()
        try:
            await workflow.execute_activity(
                "acquire_lease",
                self._lease_request(),
                result_type=LeaseHolder,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=GATE_RETRY,
                summary=f"lease: only rollout of {spec.service}",
            )
        except ActivityError as exc:
            s.phase = Phase.FAILED
            s.record.outcome = "failed"
            self._note("refused", _cause(exc))
            raise ApplicationError(_cause(exc), type="RolloutAlreadyRunning", non_retryable=True) from exc

    async def _release_lease(self) -> None:
        await workflow.execute_activity(
            "release_lease",
            self._lease_request(),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ROLLBACK_ROUTER_RETRY,
            summary="lease: release",
        )

    def _lease_request(self) -> LeaseRequest:
        spec, _ = self._require()
        info = workflow.info()
        return LeaseRequest(service=spec.service, holder=info.workflow_id, holder_run_id=info.run_id)

    def _validate(self, raw: Any) -> RolloutSpec:
        """Validation is the first act: nothing is called before the spec is known to be whole."""
        problems: list[str] = []
        spec: RolloutSpec | None = None
        try:
            spec = validate_spec(raw)
        except SpecError as exc:
            problems = exc.problems
        if problems or spec is None:
            message = SpecError(problems).args[0]
            workflow.logger.error("invalid rollout spec", extra={"problems": problems})
            raise ApplicationError(message, {"problems": problems}, type="InvalidRolloutSpec", non_retryable=True)
        if self._s is None:
            now = workflow.now()
            info = workflow.info()
            self._s = RolloutState(
                record=DeploymentRecord(
                    rollout_id=info.workflow_id,
                    run_id=info.run_id,
                    service=spec.service,
                    requested_by=spec.requested_by,
                    description=spec.description,
                    stable=spec.stable,
                    candidate=spec.candidate,
                    strategy=strategy_of(spec),
                    criteria=spec.criteria,
                    rollback_triggers=spec.rollback_triggers,
                    criteria_sha256=criteria_fingerprint(spec),
                    # Rollouts started before the sequential judge existed keep the threshold rule they
                    # started with; the patch marker makes that choice part of the history.
                    judge="sequential" if workflow.patched(SEQUENTIAL_JUDGE_PATCH) else "threshold",
                    started_at=now,
                )
            )
        return spec

    def _judge_method(self) -> JudgeMethod:
        return "sequential" if self._state().record.judge == "sequential" else "threshold"

    # ---------------------------------------------------------------- forward path

    async def _forward(self) -> None:
        spec, s = self._require()
        if not s.gates_done:
            if spec.preflight is not None:
                await self._preflight()
            if spec.shadow is not None:
                await self._shadow()
            s.gates_done = True
        for index in range(s.step_index, len(spec.steps)):
            step = spec.steps[index]
            if s.step_index != index or not s.step_applied:
                await self._start_step(index, step)
            await self._observe(index, step)
            if step.approval:
                await self._await_approval(index)
            self._end_step(index)
        await self._promote()

    async def _preflight(self) -> None:
        spec, _ = self._require()
        assert spec.preflight is not None
        self._enter(Phase.PREFLIGHT, "preflight eval gate")
        result: PreflightResult = await self._interruptible(
            workflow.execute_activity(
                "run_preflight",
                PreflightInput(preflight=spec.preflight),
                result_type=PreflightResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=GATE_RETRY,
                summary="preflight: fetch candidate eval score",
            ),
            failure_cause="preflight",
        )
        gate = preflight_gate(result)
        self._state().record.gates.append(gate)
        self._note("preflight " + ("passed" if gate.passed else "failed"), gate.summary)
        if not gate.passed:
            raise RollbackNeeded("preflight", f"preflight eval gate failed: {gate.summary}")

    async def _shadow(self) -> None:
        spec, _ = self._require()
        assert spec.shadow is not None and spec.stable.endpoint and spec.candidate.endpoint
        self._enter(Phase.SHADOW, f"shadow comparison of up to {spec.shadow.max_requests} requests")
        result: ShadowResult = await self._interruptible(
            workflow.execute_activity(
                "run_shadow",
                ShadowInput(
                    shadow=spec.shadow, stable_endpoint=spec.stable.endpoint, candidate_endpoint=spec.candidate.endpoint
                ),
                result_type=ShadowResult,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=GATE_RETRY,
                summary=f"shadow: replay {spec.shadow.max_requests} requests to both versions",
            ),
            failure_cause="shadow",
        )
        gate = shadow_gate(result, min_agreement=spec.shadow.min_agreement, criteria=spec.criteria)
        self._state().record.gates.append(gate)
        self._note("shadow " + ("passed" if gate.passed else "failed"), gate.summary)
        if not gate.passed:
            raise RollbackNeeded("shadow", f"shadow comparison failed: {gate.summary}")

    async def _start_step(self, index: int, step: Step) -> None:
        spec, s = self._require()
        s.step_index, s.step_applied = index, False
        self._enter(
            Phase.CANARY, f"step {index + 1}/{len(spec.steps)}: {step.weight:g}% for {format_duration(step.observe)}"
        )
        if ROUTER_COMPENSATION not in s.compensations:
            # Registered before the first weight change: a half-applied change is undone too.
            s.compensations.append(ROUTER_COMPENSATION)
        await self._set_weight(step.weight, f"canary: set candidate to {step.weight:g}%")
        now = workflow.now()
        s.record.steps.append(
            StepReport(index=index, weight=step.weight, observe_seconds=step.observe.total_seconds(), started_at=now)
        )
        s.clock.observed_before, s.clock.running_since = 0.0, None
        if s.paused_by is None:
            s.clock.start(now)
        s.judge_state, s.consecutive_failures, s.approved_by, s.approval_deadline = None, 0, [], None
        s.step_applied = True
        await self._take_baseline()
        if workflow.patched(ANALYSIS_CADENCE_PATCH):
            # Anchored to the step's start, so the last analysis lands exactly at the step's end.
            s.next_analysis_at = now + spec.analysis_interval
        else:
            s.next_analysis_at = workflow.now() + spec.analysis_interval

    async def _set_weight(self, weight: float, summary: str) -> None:
        spec, s = self._require()
        state: RouterState = await workflow.execute_activity(
            "set_weights",
            SetWeightsInput(router=spec.router, service=spec.service, candidate_weight=weight),
            result_type=RouterState,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=FORWARD_ROUTER_RETRY,
            summary=summary,
        )
        s.weight = state.candidate
        s.record.final_weight = state.candidate
        self._note("weight set", f"stable {state.stable:g}% / candidate {state.candidate:g}% (verified)")
        self._upsert()

    async def _take_baseline(self) -> None:
        """Counters at the step's start: every analysis of the step counts from here."""
        try:
            pair = await self._read_counters("baseline: read counters of both versions")
        except ActivityError as exc:
            self._note("baseline unavailable", f"{_cause(exc)}; the first analysis will take it")
            return
        _, s = self._require()
        s.judge_state = new_judge_state(pair.stable, pair.candidate, method=self._judge_method())

    async def _observe(self, index: int, step: Step) -> None:
        _, s = self._require()
        self._enter(Phase.CANARY)

        def observed_enough() -> bool:
            return s.clock.observed(workflow.now()) >= step.observe

        def step_end() -> datetime | None:
            if s.clock.running_since is None:
                return None
            return workflow.now() + (step.observe - s.clock.observed(workflow.now()))

        await self._watch(
            index,
            done=observed_enough,
            wake_at=step_end,
            summary=f"observe {step.weight:g}% for {format_duration(step.observe)}",
        )

    async def _await_approval(self, index: int) -> None:
        spec, s = self._require()
        assert spec.approvals is not None
        policy = spec.approvals
        if s.approval_deadline is None:
            s.approval_deadline = workflow.now() + policy.timeout
        self._enter(Phase.AWAITING_APPROVAL, f"step {index + 1} needs {policy.quorum} of {', '.join(policy.approvers)}")

        def approved() -> bool:
            return quorum_reached(frozenset(s.approved_by), policy.quorum)

        deadline: datetime | None = s.approval_deadline
        while not await self._watch(
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
            self._note("approval timed out", "on_timeout=wait: still waiting for the quorum")
            deadline = None
        self._note("approved", f"quorum {policy.quorum} reached: {', '.join(s.approved_by)}")
        self._enter(Phase.CANARY)

    def _end_step(self, index: int) -> None:
        _, s = self._require()
        report = s.record.steps[-1]
        report.ended_at = workflow.now()
        report.observed_seconds = s.clock.observed(workflow.now()).total_seconds()
        s.step_index, s.step_applied = index + 1, False
        self._note(
            f"step {index + 1} complete",
            f"observed {format_duration(timedelta(seconds=round(report.observed_seconds)))}",
        )

    async def _promote(self) -> None:
        self._enter(Phase.PROMOTING, "candidate to 100%")
        await self._set_weight(100.0, "promote: candidate to 100%")
        s = self._state()
        s.record.outcome = "promoted"
        self._enter(Phase.PROMOTED, "candidate serves 100%")

    # ---------------------------------------------------------------- analysis

    async def _watch(
        self,
        index: int,
        *,
        done: Callable[[], bool],
        wake_at: Callable[[], datetime | None],
        summary: str,
        deadline: datetime | None = None,
    ) -> bool:
        """Analyse every interval until ``done()``; False when ``deadline`` passes first. Abort interrupts."""
        spec, s = self._require()
        while not done():
            self._raise_if_aborted()
            now = workflow.now()
            if deadline is not None and now >= deadline:
                return False
            if s.next_analysis_at is None:
                s.next_analysis_at = now + spec.analysis_interval
            wake = s.next_analysis_at
            hint = wake_at()
            if hint is not None and hint < wake:
                wake = hint
            if wake > now:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._woken(done), timeout=wake - now, timeout_summary=summary)
            self._raise_if_aborted()
            if workflow.now() >= s.next_analysis_at:
                due = s.next_analysis_at
                await self._analyse(index)
                s.next_analysis_at = self._next_analysis(due)
            await self._continue_as_new_if_due()
        return True

    def _next_analysis(self, due: datetime) -> datetime:
        """A fixed cadence (an analysis that ran late does not push every later one back)."""
        spec, _ = self._require()
        now = workflow.now()
        if not workflow.patched(ANALYSIS_CADENCE_PATCH):
            return now + spec.analysis_interval
        following = due + spec.analysis_interval
        return following if following > now else now + spec.analysis_interval

    def _woken(self, done: Callable[[], bool]) -> Callable[[], bool]:
        """Wake a wait on abort, on any accepted signal (pause, resume, approval) or when ``done()``."""
        seen = self._wakeups
        return lambda: self._abort is not None or self._wakeups != seen or done()

    async def _read_counters(self, summary: str) -> CounterPair:
        spec, _ = self._require()
        pair: CounterPair = await self._interruptible(
            workflow.execute_activity(
                "read_counters",
                ReadCountersInput(
                    metrics=spec.metrics,
                    service=spec.service,
                    stable_version=spec.stable.version,
                    candidate_version=spec.candidate.version,
                ),
                result_type=CounterPair,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=METRICS_RETRY,
                summary=summary,
            )
        )
        return pair

    async def _analyse(self, index: int) -> None:
        spec, s = self._require()
        now = workflow.now()
        try:
            pair = await self._read_counters(f"analysis: step {index + 1} at {s.weight:g}%")
        except ActivityError as exc:
            await self._analysis_failed(index, _cause(exc))
            return
        if s.consecutive_failures:
            self._note("metrics back", f"after {s.consecutive_failures} failed analyses")
        s.consecutive_failures = 0
        if s.judge_state is None:
            s.judge_state = new_judge_state(pair.stable, pair.candidate, method=self._judge_method())
            self._note("baseline taken", "late: the step's first reading failed")
            return
        try:
            verdict = judge(
                s.judge_state,
                stable=pair.stable,
                candidate=pair.candidate,
                criteria=spec.criteria,
                triggers=spec.rollback_triggers,
            )
        except ValueError as exc:  # inconsistent counters from the provider: an analysis error, never a pass
            await self._analysis_failed(index, f"unusable counters: {exc}")
            return
        s.judge_state = verdict.state
        evidence = _evidence(verdict.criteria)
        breached = [t.name for t in verdict.triggers if t.breached]
        deciding = verdict.decision == "rollback"
        s.record.analyses.append(
            AnalysisEntry(
                at=now,
                step=index,
                weight=s.weight,
                decision=verdict.decision,
                reason=verdict.reason if deciding or verdict.decision != "continue" else "",
                evidence=[evidence_line(e) for e in evidence],
                criteria=evidence if deciding else [],
                triggers_breached=breached,
                warnings=verdict.warnings,
            )
        )
        report = s.record.steps[-1]
        report.analyses += 1
        report.final = evidence
        if evidence:
            report.candidate_requests = evidence[0].samples[1]
            report.stable_requests = evidence[0].samples[0]
        if verdict.decision == "rollback":
            raise RollbackNeeded("analysis", verdict.reason)

    async def _analysis_failed(self, index: int, error: str) -> None:
        spec, s = self._require()
        s.consecutive_failures += 1
        s.record.steps[-1].analysis_errors += 1
        s.record.analyses.append(
            AnalysisEntry(at=workflow.now(), step=index, weight=s.weight, decision="error", reason=error, error=error)
        )
        policy = spec.analysis_failures
        self._note("analysis failed", f"{error} ({s.consecutive_failures}/{policy.max_consecutive} in a row)")
        if s.consecutive_failures < policy.max_consecutive:
            return
        if policy.action == "rollback":
            raise RollbackNeeded(
                "analysis_failures", f"{s.consecutive_failures} analyses in a row failed; last: {error}"
            )
        if s.paused_by is None:
            s.paused_by = "policy:analysis_failures"
            s.clock.stop(workflow.now())
            self._note("paused by policy", f"{s.consecutive_failures} analyses in a row failed; resume when fixed")
            self._upsert()

    # ---------------------------------------------------------------- rollback

    async def _shielded(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` to its end even if the workflow is cancelled meanwhile (rollback, lease release)."""
        task = asyncio.create_task(work)
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.done():
                    break
                workflow.logger.warning("cancellation ignored until this step is done")
        task.result()

    async def _roll_back(self, rollback: RollbackNeeded) -> None:
        s = self._state()
        started = workflow.now()
        s.record.rollback = RollbackReport(
            cause=rollback.cause, by=rollback.by, reason=rollback.reason, started_at=started
        )
        s.clock.stop(started)
        self._enter(Phase.ROLLING_BACK, f"{rollback.cause}: {rollback.reason}")
        done: list[str] = []
        # Router first whatever the registration order: stable at 100% is what users need back.
        pending = sorted(reversed(s.compensations), key=lambda name: name != ROUTER_COMPENSATION)
        for name in pending:
            if name == ROUTER_COMPENSATION:
                state = await self._route_all_to_stable()
                s.weight = state.candidate
                s.record.final_weight = state.candidate
                s.record.rollback.router_verified = state.candidate == 0.0
            done.append(name)
        s.compensations = []
        finished = workflow.now()
        s.record.rollback.finished_at = finished
        s.record.rollback.duration_seconds = (finished - started).total_seconds()
        s.record.rollback.compensations = done
        s.record.outcome = "cancelled" if rollback.cause == "cancelled" else "rolled_back"
        self._enter(Phase.ROLLED_BACK, f"stable at 100% after {s.record.rollback.duration_seconds:.3f}s")

    async def _route_all_to_stable(self) -> RouterState:
        """Stable at 100%, verified; retried until the router confirms, even after a non-retryable error
        (say nginx refused a config an outside hand broke): a rollback has no state to give up in."""
        spec, _ = self._require()
        failures = 0
        while True:
            try:
                state: RouterState = await workflow.execute_activity(
                    "set_weights",
                    SetWeightsInput(router=spec.router, service=spec.service, candidate_weight=0.0),
                    result_type=RouterState,
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=ROLLBACK_ROUTER_RETRY,
                    summary="rollback: stable to 100%",
                )
                return state
            except ActivityError as exc:
                failures += 1
                self._note("rollback router call failed", f"{_cause(exc)}; retrying (attempt {failures + 1})")
                await workflow.sleep(
                    min(timedelta(seconds=2**failures), timedelta(seconds=30)), summary="rollback: retry backoff"
                )

    # ---------------------------------------------------------------- signals, updates, queries

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """Every signal lands here so a bad payload is recorded with the reason instead of dropped by the SDK."""
        payload: object = None
        if args:
            try:
                payload = workflow.payload_converter().from_payload(args[0].payload)
            except Exception as exc:  # undecodable payload: recorded, never applied
                self._reject(name, Rejected(f"malformed: payload could not be decoded: {exc}"), None)
                return
        if name not in SIGNAL_NAMES:
            self._reject(name, Rejected(f"unknown signal (known: {', '.join(SIGNAL_NAMES)})"), payload)
            return
        outcome = assess(name, payload, self._signal_context())
        if isinstance(outcome, Rejected):
            self._reject(name, outcome, payload)
        else:
            self._apply(outcome)

    def _validate_update(self, name: SignalName, payload: dict[str, Any]) -> None:
        outcome = assess(name, payload, self._signal_context())
        if isinstance(outcome, Rejected):
            raise ValueError(outcome.reason)

    def _apply_update(self, name: SignalName, payload: dict[str, Any]) -> str:
        outcome = assess(name, payload, self._signal_context())
        if isinstance(outcome, Rejected):  # state moved between validation and handling
            self._reject(name, outcome, payload)
            raise ApplicationError(outcome.reason, type="SignalRejected")
        return self._apply(outcome)

    @workflow.update(name="approve")
    def approve_update(self, payload: dict[str, Any]) -> str:
        return self._apply_update("approve", payload)

    @approve_update.validator
    def _approve_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("approve", payload)

    @workflow.update(name="reject")
    def reject_update(self, payload: dict[str, Any]) -> str:
        return self._apply_update("reject", payload)

    @reject_update.validator
    def _reject_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("reject", payload)

    @workflow.update(name="pause")
    def pause_update(self, payload: dict[str, Any]) -> str:
        return self._apply_update("pause", payload)

    @pause_update.validator
    def _pause_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("pause", payload)

    @workflow.update(name="resume")
    def resume_update(self, payload: dict[str, Any]) -> str:
        return self._apply_update("resume", payload)

    @resume_update.validator
    def _resume_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("resume", payload)

    @workflow.update(name="abort")
    def abort_update(self, payload: dict[str, Any]) -> str:
        return self._apply_update("abort", payload)

    @abort_update.validator
    def _abort_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("abort", payload)

    @workflow.query(name="status")
    def status(self) -> RolloutStatus:
        spec, s = self._require()
        now = workflow.now()
        in_step = s.phase in {Phase.CANARY, Phase.AWAITING_APPROVAL} and s.step_index < len(spec.steps)
        left: str | None = None
        if in_step:
            remaining = spec.steps[s.step_index].observe - s.clock.observed(now)
            left = format_duration(max(remaining, timedelta()))
        last = next((a for a in reversed(s.record.analyses)), None)
        approvers = spec.approvals.approvers if spec.approvals else []
        quorum = spec.approvals.quorum if spec.approvals else 0
        return RolloutStatus(
            service=spec.service,
            phase=s.phase,
            step=s.step_index + 1 if in_step else None,
            steps=len(spec.steps),
            weight=s.weight,
            time_left_in_step=left,
            paused=s.paused_by is not None,
            paused_by=s.paused_by,
            next_analysis_at=s.next_analysis_at if in_step else None,
            last_analysis=None
            if last is None
            else {
                "at": last.at.isoformat(),
                "decision": last.decision,
                "reason": last.reason,
                "evidence": last.evidence,
                "criteria": {
                    c.name: c.model_dump(mode="json") for c in (s.record.steps[-1].final if s.record.steps else [])
                },
            },
            approvals_received=list(s.approved_by),
            approvals_missing=max(quorum - len(s.approved_by), 0) if s.phase is Phase.AWAITING_APPROVAL else 0,
            approvers=approvers,
            rejected_signals=len(s.record.rejected_signals),
            rollback=s.record.rollback,
            criteria_sha256=s.record.criteria_sha256,
        )

    @workflow.query(name="record")
    def record(self) -> DeploymentRecord:
        return self._state().record

    def _signal_context(self) -> SignalContext:
        spec, s = self._spec, self._s
        if spec is None or s is None:
            return SignalContext(phase=Phase.VALIDATING, requested_by="")
        return SignalContext(
            phase=s.phase,
            requested_by=spec.requested_by,
            approvers=frozenset(spec.approvals.approvers if spec.approvals else ()),
            approved_by=frozenset(s.approved_by),
            paused_by=s.paused_by,
            abort_requested=self._abort is not None,
        )

    def _apply(self, accepted: Accepted) -> str:
        s = self._state()
        now = workflow.now()
        self._wakeups += 1
        match accepted.signal:
            case Approve(approver=approver, comment=comment):
                s.approved_by.append(approver)
                entry = ApprovalEntry(step=s.step_index, approver=approver, at=now, comment=comment)
                s.record.approvals.append(entry)
                if s.record.steps:
                    s.record.steps[-1].approvals.append(entry)
                self._note("approval", f"{approver}" + (f": {comment}" if comment else ""))
                return f"approved by {approver}"
            case Reject(approver=approver, reason=reason):
                self._abort = RollbackNeeded("reject", f"rejected by {approver}: {reason}", by=approver)
                self._note("rejected", f"{approver}: {reason}")
                return "rollback requested"
            case Abort(by=by, reason=reason):
                self._abort = RollbackNeeded("abort", f"aborted by {by}: {reason}", by=by)
                self._note("abort", f"{by}: {reason}")
                return "rollback requested"
            case Pause(by=by, reason=reason):
                s.paused_by = by
                s.clock.stop(now)
                self._note("paused", by + (f": {reason}" if reason else ""))
                self._upsert()
                return f"paused by {by}"
            case Resume(by=by):
                was = s.paused_by
                s.paused_by = None
                if s.phase is Phase.CANARY or s.phase is Phase.AWAITING_APPROVAL:
                    s.clock.start(now)
                self._note("resumed", f"{by} (was paused by {was})")
                self._upsert()
                return f"resumed by {by}"
        raise AssertionError(f"unhandled signal {accepted.signal!r}")

    def _reject(self, name: str, rejected: Rejected, payload: object) -> None:
        if self._s is None:
            return
        self._s.record.rejected_signals.append(
            SignalRejection(
                at=workflow.now(),
                signal=name[:NAME_MAX],
                by=None if rejected.by is None else rejected.by[:NAME_MAX],
                reason=rejected.reason[:TEXT_MAX],
                payload=_kept(payload),
            )
        )
        workflow.logger.info("signal rejected", extra={"signal": name, "reason": rejected.reason})

    # ---------------------------------------------------------------- platform helpers

    async def _interruptible(self, awaitable: Any, *, failure_cause: RollbackCause | None = None) -> Any:
        """Await an activity that does not touch the router, giving up on it at once when a rollback is asked."""
        task = asyncio.ensure_future(awaitable)
        await workflow.wait_condition(lambda: task.done() or self._abort is not None)
        if not task.done():
            task.cancel()
            self._raise_if_aborted()
        try:
            return task.result()
        except ActivityError as exc:
            if failure_cause is None:
                raise
            raise RollbackNeeded(failure_cause, f"{failure_cause} could not run: {_cause(exc)}") from exc

    def _raise_if_aborted(self) -> None:
        if self._abort is not None:
            raise self._abort

    async def _continue_as_new_if_due(self) -> None:
        info = workflow.info()
        if not (info.is_continue_as_new_suggested() or info.get_current_history_length() > CONTINUE_AS_NEW_EVENTS):
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._abort is not None:
            return  # a rollback was asked meanwhile: handle it in this run
        self._note("continue-as-new", f"history at {info.get_current_history_length()} events")
        workflow.continue_as_new(args=[self._raw_spec, self._state()])

    def _finish(self) -> RolloutResult:
        s = self._state()
        s.record.finished_at = workflow.now()
        result = RolloutResult(record=s.record, markdown=render_markdown(s.record))
        workflow.set_current_details(self._details())
        return result

    def _enter(self, phase: Phase, detail: str = "") -> None:
        s = self._state()
        if s.phase is not phase:
            s.phase = phase
            self._note(f"phase {phase.value}", detail)
        elif detail:
            self._note(detail)
        if phase in {Phase.CANARY, Phase.AWAITING_APPROVAL} and s.paused_by is None:
            s.clock.start(workflow.now())
        self._upsert()

    def _note(self, event: str, detail: str = "") -> None:
        s = self._state()
        s.record.timeline.append(TimelineEntry(at=workflow.now(), phase=s.phase.value, event=event, detail=detail))
        workflow.logger.info(event, extra={"detail": detail, "phase": s.phase.value})

    def _upsert(self) -> None:
        spec, s = self._require()
        workflow.upsert_search_attributes(
            [
                sa.SERVICE.value_set(spec.service),
                sa.CANDIDATE_VERSION.value_set(spec.candidate.version),
                sa.PHASE.value_set(s.phase.value),
                sa.WEIGHT.value_set(s.weight),
            ]
        )
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        spec, s = self._spec, self._s
        if spec is None or s is None:
            return "validating the spec"
        lines = [
            f"**{spec.service}** {spec.stable.version} -> {spec.candidate.version}: **{s.phase.value}**, "
            f"candidate at {s.weight:g}%"
        ]
        if s.phase in {Phase.CANARY, Phase.AWAITING_APPROVAL} and s.step_index < len(spec.steps):
            lines.append(f"step {s.step_index + 1}/{len(spec.steps)}")
        if s.paused_by:
            lines.append(f"paused by {s.paused_by}")
        if s.record.rollback:
            lines.append(f"rollback: {s.record.rollback.reason}")
        return "\n\n".join(lines)

    def _state(self) -> RolloutState:
        if self._s is None:
            raise RuntimeError("rollout state used before validation")
        return self._s

    def _require(self) -> tuple[RolloutSpec, RolloutState]:
        if self._spec is None:
            raise RuntimeError("spec used before validation")
        return self._spec, self._state()


KEPT_PAYLOAD_CHARS = 500
"""A refused signal's payload is kept for the audit trail, but only this much of it: anyone can send a signal,
and the record travels through continue-as-new under Temporal's payload size limit."""


def _kept(payload: object) -> object:
    text = json.dumps(payload, default=str)
    return payload if len(text) <= KEPT_PAYLOAD_CHARS else text[:KEPT_PAYLOAD_CHARS] + "... (truncated)"


def _constant(value: datetime | None) -> Callable[[], datetime | None]:
    return lambda: value


def _cause(exc: BaseException) -> str:
    """The innermost message of an activity failure, which is the one a person can act on."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc)
