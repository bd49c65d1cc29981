"""The run context: the valid spec and the state, never optional, built once validation has passed.

Every part of the forward path, the analysis and the rollback takes a ``RolloutRun``; the workflow class owns it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.activities import ShadowInput
    from models.phases import Phase
    from models.record import RollbackCause, TimelineEntry
    from models.spec import MetricsSpec, RolloutSpec, RouterSpec
    from models.verdicts import JudgeMethod
    from workflows.rollout import view
    from workflows.rollout.bounds import add_timeline
    from workflows.rollout.interrupts import Interrupts, RollbackNeeded
    from workflows.rollout.notify import Deliveries, on_phase
    from workflows.rollout.state import RolloutState

T = TypeVar("T")

ROUTER_COMPENSATION = "route_all_to_stable"
SEQUENTIAL_JUDGE_PATCH = "sequential-judge"
SERVICE_LEASE_PATCH = "service-lease"
ANALYSIS_CADENCE_PATCH = "analysis-cadence"
DECISION_PATCH = "decision-before-move"
"""A step advances only on passing evidence or an override; metrics failures count across steps."""
JUDGE_WHOLE_ROLLOUT_PATCH = "judge-whole-rollout"
"""The whole-rollout judge (ADR 13): one alpha for the rollout, an absolute error margin, untestable verdicts,
evidence on errors carried across steps, a late-onset detector, a dispersion-aware error test."""
JUDGE_EVIDENCE_PATCH = "judge-evidence"
"""Issue 19: the judge is chosen once per rollout, at its first step (``RolloutState.judge_rules``), and new rollouts
get the robust whole-rollout judge (``JudgeState.robust``): dispersion-aware evidence capped per poll, passes earned
per step, every error rollback path inside alpha."""
JUDGE_DETECTION_PATCH = "judge-evidence-2"
"""Issue 19's second judge: rollouts whose judge is chosen under this patch (at their first step) get the robust
judge with ``JudgeState.detection`` (``RolloutState.judge_rules`` "evidence-2"); rollouts that chose "evidence"
before it keep that judge for their whole life."""
JUDGE_THIRD_PATCH = "judge-evidence-3"
"""Issue 19's third judge: rollouts whose judge is chosen under this patch (at their first step) get the second
judge with ``JudgeState.third`` (``RolloutState.judge_rules`` "evidence-3"); rollouts that chose "evidence" or
"evidence-2" before it keep that judge for their whole life. Asked on its own: the patch epochs are frozen."""
UNTESTABLE_ONCE_PATCH = "untestable-once"
"""Issue 19: the p95's testability is decided once per step from a confidence statement (``JudgeState
.testability_once``), and an accepted untestable p95 is refused where its smallest detectable ratio exceeds
``accept_untestable_ratio_max``. Chosen at the rollout's first step (``RolloutState.untestable_once``) and kept."""
SIGNED_APPROVALS_PATCH = "signed-approvals"
"""The service policy is read at start; decisions must be signed by keys it lists (or it allows unsigned)."""
OPERATOR_VIEW_PATCH = "operator-view"
"""Search attributes from the first task (invalid specs and lease refusals included) and ``RolloutOutcome``."""
TRUST_BOUNDARY_PATCH = "trust-boundary"
"""Targets come from the operators' policy (a spec's inline router and metrics only where the policy or lab mode
allows); a signed spec is bound to its workflow id and a not-after time; the policy's required approvals and
floors bind."""
TRUST_OPERATIONS_PATCH = "trust-operations"
"""The trust boundary (issue 18): a pause lasts at most the policy's ``max_pause``; signals and updates that arrive
before the policy is read wait for it; keys revoked in the policy file are honoured before each decision is acted
on; the record keeps each signed decision's proof; decisions are bound to the first execution's run id. Checked
once, in the first run's first task; later runs read ``RolloutState.trust_operations``."""
LOCAL_READS_PATCH = "local-counter-reads"
"""Counter reads run as local activities (``calls.read_counters``): one marker in the history where a scheduled,
started and completed activity and a second workflow task were (issue 24). Decisions are the same either way, so
each run checks it afresh: a run that continued an older one reads locally from its start."""
REMOTE_READS_PATCH = "remote-counter-reads"
"""Withdraws ``LOCAL_READS_PATCH`` for rollouts started from now on: on the cluster test (a worker and a history
instance killed mid-run, 50 rollouts) one rollout's replay on another worker failed with "[TMPRL1100]
Nondeterminism error: Missing associated machine for LocalActivity", every attempt, until its lease terminated it.
Counter reads are normal activities again; rollouts whose histories hold local reads keep replaying them."""
COUNTER_RESTARTS_PATCH = "counter-restarts"
"""Each analysis's counter read passes the instants of the previous readings (``ReadCountersInput.*_since``), so a
provider that keeps samples (Prometheus) says what a restarted pod served before its restart and the judge counts
it (issue 19: a restart lost up to a poll of that pod's traffic; now only what follows its last scrape)."""
DONE_BEFORE_HANDOVER_PATCH = "done-before-handover"
"""A wait that ends (an overrider's promote in a deploy-window wait) is acted on before the run may continue as new,
and a run that is handed an override taken just before the hand-over honours it: the override was recorded, but
the next run began the window wait afresh and waited for the window (a week's freeze) despite it."""
CONTINUE_AS_NEW_BUDGET_PATCH = "continue-as-new-budget"
"""A run continues as new past ``analysis.REPLAY_BUDGET_EVENTS`` (a replay-time budget) instead of 4,000 events, and
an abort is served while deliveries drain before the hand-over (issue 24)."""
LEAN_HISTORY_PATCH = "lean-history"
"""A run continues as new past ``analysis.LEAN_HISTORY_EVENTS``, set from a 100 ms replay budget measured on this
machine (ADR 42), and an upsert writes only the search attributes whose values changed (none at all when nothing
did): a continued run's start event already holds the previous run's, and its first task wrote them again in two
upserts, each an event (issue 24)."""
CARRY_AS_DIGESTED_PATCH = "carry-state-as-digested"
"""Continue-as-new hands over a copy of the state taken when its digest was written: a ``finally`` that runs while
the hand-over unwinds (a deploy-window wait resetting ``awaiting_decision``) can no longer change what is carried
after the digest was computed, which made the next run refuse the state (issue 22, a weekend's window wait)."""
SHADOW_P95_TEST_PATCH = "shadow-p95-test"
"""The shadow replay tests the candidate's p95 against the limit (Mood's quantile test, ``workflows.quantile_test``)
and the gate fails on latency at 1% or beyond the p95 rollback trigger (``workflows.gates``), where the point p95s
of 400 loopback requests failed a healthy candidate. Checked before each shadow gate's or item's replay (ADR 39)."""
CARRIED_SIGNALS_PATCH = "carried-run-signals-wait"
"""Signals and updates that reach a continued run before it has taken over its carried state (sent while the previous
run handed over) wait for that state, as a first run's wait for its policy: judged earlier, an approval was refused
as meaningless (phase validating) and lost, and the refusal, written into the carried state before its digest was
checked, made the run refuse its own state and fail the rollout (the cluster test, approvals sent as a run handed
over at its replay budget). Checked in each continued run's first task."""
QUIET_RETURN_PATCH = "quiet-return"
"""A continued run handed an approval wait or a hold walks back to it through the step's code, which enters the
canary phase and then the handed phase again: before this patch each hand-over noted both moves in the timeline and
notified them (a second ``approval_requested``, a second ``held``). With runs of 200 events (``lean-history``) a
hand-over during a wait is routine. Under the patch the walk back is silent until the run is where it was handed."""
NOTIFY_PATCH = "notifications"
"""Issue 23's aftercare: webhooks from the policy told about phase changes, approval requests, holds, rollbacks
and recovery (workflows/rollout/notify.py), and, after a rollback, stable watched until it is back at its
pre-rollout baseline (workflows/rollout/recovery.py). Checked once, in the first run's first task; later runs read
``RolloutState.notify_patch``."""


@dataclass
class RolloutRun:
    """One run of a rollout whose spec is known to be whole."""

    spec: RolloutSpec
    state: RolloutState
    raw_spec: object
    """The spec as it came in: continue-as-new passes it on unchanged."""
    interrupts: Interrupts
    operator_view: bool = False
    """The run started under ``OPERATOR_VIEW_PATCH``: it upserts ``RolloutOutcome`` too."""
    deliveries: Deliveries = field(default_factory=Deliveries)
    """Notifications in flight in this run (``NOTIFY_PATCH``)."""
    returning_to: Phase | None = None
    """The wait this continued run was handed and is walking back to (``QUIET_RETURN_PATCH``); None once there, or
    once the run moves anywhere else."""

    def router(self) -> RouterSpec:
        """The router every weight change uses: the chosen target's; the spec's own in rollouts before targets."""
        if self.state.target is not None:
            return self.state.target.target.router
        assert self.spec.router is not None  # a rollout before targets always carried its router
        return self.spec.router

    def metrics(self) -> MetricsSpec:
        """The metrics every analysis reads: the chosen target's; the spec's own in rollouts before targets."""
        if self.state.target is not None:
            return self.state.target.target.metrics
        assert self.spec.metrics is not None
        return self.spec.metrics

    def shadow_input(self) -> ShadowInput:
        """The shadow replay's input, its request file taken from the target's replay sets by name."""
        shadow = self.spec.shadow
        assert shadow is not None and self.spec.stable.endpoint and self.spec.candidate.endpoint
        if shadow.replay is not None and self.state.target is not None:
            shadow = shadow.model_copy(update={"requests_file": self.state.target.target.replay_sets[shadow.replay]})
        return ShadowInput(
            shadow=shadow, stable_endpoint=self.spec.stable.endpoint, candidate_endpoint=self.spec.candidate.endpoint
        )

    def judge_method(self) -> JudgeMethod:
        """The judge this rollout started with (kept across continue-as-new)."""
        return "sequential" if self.state.record.judge == "sequential" else "threshold"

    def note(self, event: str, detail: str = "") -> None:
        """A line in the record's timeline and in the workflow log."""
        s = self.state
        add_timeline(s.record, TimelineEntry(at=workflow.now(), phase=s.phase.value, event=event, detail=detail))
        workflow.logger.info(event, extra={"detail": detail, "phase": s.phase.value})

    def enter(self, phase: Phase, detail: str = "") -> None:
        """Move to ``phase`` (or note ``detail`` in the current one) and tell the UI."""
        s = self.state
        if self.returning_to is not None and self._returning(phase, detail):
            if phase in {Phase.CANARY, Phase.AWAITING_APPROVAL} and s.paused_by is None:
                s.clock.start(workflow.now())
            self.upsert()
            return
        if s.phase is not phase:
            s.phase = phase
            self.note(f"phase {phase.value}", detail)
            on_phase(s, self.deliveries, phase, detail)
        elif detail:
            self.note(detail)
        if phase in {Phase.CANARY, Phase.AWAITING_APPROVAL} and s.paused_by is None:
            s.clock.start(workflow.now())
        self.upsert()

    def _returning(self, phase: Phase, detail: str) -> bool:
        """Whether ``enter(phase, detail)`` is a step of the walk back to ``returning_to``: noted and notified once.

        The step's code re-enters the bare canary phase (observe) and then the handed phase; the phase shown stays
        the handed one meanwhile, as it truly is. Any other move (a rollback, a manual move, an override) ends
        the walk back and is news as usual.
        """
        target = self.returning_to
        if phase is Phase.CANARY and not detail:
            return True
        self.returning_to = None
        return phase is target and self.state.phase is target

    def upsert(self) -> None:
        """Search attributes and Current Details, from state alone; under ``LEAN_HISTORY_PATCH`` only what changed."""
        updates = view.search_attributes(self.spec, self.state, with_outcome=self.operator_view)
        if patched(LEAN_HISTORY_PATCH):
            updates = view.changed(updates, workflow.info().typed_search_attributes)
        if updates:
            workflow.upsert_search_attributes(updates)
        self.show()

    def show(self) -> None:
        """Current Details only: no command, so it may change at any point without a patch."""
        workflow.set_current_details(view.details(self.spec, self.state, workflow.now()))

    def raise_if_aborted(self) -> None:
        """Leave the forward path if a person asked for a rollback."""
        if self.interrupts.abort is not None:
            raise self.interrupts.abort

    async def interruptible(self, awaitable: Awaitable[T], *, failure_cause: RollbackCause | None = None) -> T:
        """Await an activity that does not touch the router, giving up on it at once when a rollback is asked."""
        task = asyncio.ensure_future(awaitable)
        await workflow.wait_condition(lambda: task.done() or self.interrupts.abort is not None)
        if not task.done():
            task.cancel()
            self.raise_if_aborted()
        try:
            return task.result()
        except ActivityError as exc:
            if failure_cause is None:
                raise
            raise RollbackNeeded(failure_cause, f"{failure_cause} could not run: {cause(exc)}") from exc


def activity_message(exc: ActivityError) -> str:
    """The message the activity itself raised (its first cause), which says what a person can do about it."""
    inner = exc.__cause__
    if isinstance(inner, ApplicationError):
        return inner.message  # without the "Type: " prefix str() adds
    return str(inner) if inner is not None else str(exc)


def cause(exc: BaseException) -> str:
    """The innermost message of an activity failure, which is the one a person can act on."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc)
