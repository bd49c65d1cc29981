"""The ``Rollout`` workflow: one execution moves one candidate version past stable, or puts stable back.

validate -> lease -> preflight -> shadow -> for each step: set weight, observe with analysis every interval,
approval -> promote. Any failure, abort, rejection or cancellation runs the registered compensations in reverse,
router first, shielded from cancellation. This class holds the handlers and queries; the rest of the package
does the work on a ``RolloutRun``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.patch_epoch import ROLLOUT_EPOCH, begin, patched

with workflow.unsafe.imports_passed_through():
    from models.lease import LeaseRequest
    from models.phases import Phase
    from models.record import DeploymentRecord, render_markdown, strategy_of
    from models.spec import RolloutSpec, criteria_fingerprint
    from models.validation import SpecError, validate_spec
    from workflows.approvals import SIGNAL_NAMES, Accepted, Rejected, SignalName, assess, audited
    from workflows.rollout import calls, signals, view
    from workflows.rollout.bounds import count_rejection
    from workflows.rollout.context import (
        CARRIED_SIGNALS_PATCH,
        NOTIFY_PATCH,
        OPERATOR_VIEW_PATCH,
        QUIET_RETURN_PATCH,
        SEQUENTIAL_JUDGE_PATCH,
        SERVICE_LEASE_PATCH,
        SIGNED_APPROVALS_PATCH,
        TRUST_OPERATIONS_PATCH,
        RolloutRun,
        activity_message,
        cause,
    )
    from workflows.rollout.governance import govern
    from workflows.rollout.interrupts import Interrupts, RollbackNeeded
    from workflows.rollout.moves import MOVES_PATCH
    from workflows.rollout.notify import drain
    from workflows.rollout.recovery import verify_recovery
    from workflows.rollout.rollback import roll_back, shielded
    from workflows.rollout.state import RolloutResult, RolloutState, RolloutStatus, carried_refusal
    from workflows.rollout.walk import forward


EARLY_SIGNALS_KEPT = 50
"""Signals kept while the policy is read, to be judged under it; later ones are refused (and recorded): anyone
can send signals, and a flood at start must not grow the workflow's memory."""
EARLY_REFUSED = (
    f"refused: more than {EARLY_SIGNALS_KEPT} signals arrived before the rollout read its policy; "
    "send it again once the rollout has started"
)


@dataclass
class _Early:
    """A signal or update that arrived before the policy was read: judged under it, in arrival order."""

    name: SignalName
    payload: Any
    update: bool = False
    answer: str | ApplicationError | None = None
    judged: bool = False


@workflow.defn(name="Rollout", failure_exception_types=[ValidationError])
class RolloutWorkflow:
    """One rollout: its handlers, its queries, and the order of the big moves."""

    @workflow.init
    def __init__(self, spec: Any = None, carried: RolloutState | None = None) -> None:
        # First of all: the patches this run takes under one marker (every run asks, continued ones too).
        self.patches_taken = begin(ROLLOUT_EPOCH)
        self._carried = carried
        self._run: RolloutRun | None = None
        self._interrupts = Interrupts()
        # Checked once per rollout, in the first run's first task (before any handler runs); later runs read it
        # from the carried state, so a rollout never changes rules in the middle.
        self._trust = (
            carried.trust_operations if carried is not None else patched(TRUST_OPERATIONS_PATCH, self.patches_taken)
        )
        # A continued run's first task can hold signals sent while the previous run handed over: they wait until
        # the run has checked its carried state against the digest and taken it over (``CARRIED_SIGNALS_PATCH``).
        self._hold_for_carried = carried is not None and patched(CARRIED_SIGNALS_PATCH, self.patches_taken)
        self._policy_read = not self._hold_for_carried and (carried is not None or not self._trust)
        """Until then, signals and updates wait: judged without their policy (or, in a continued run, without its
        state) they would be judged wrongly."""
        self._early: list[_Early] = []
        self._early_rejected: list[tuple[str, Rejected, object]] = []
        """Malformed or unknown signals refused before a continued run took over its state, recorded once it has."""
        self._early_refused: list[str] = []
        self._early_uncounted: dict[str, int] = {}

    # ---------------------------------------------------------------- run

    @workflow.run
    async def run(self, spec: Any = None, carried: RolloutState | None = None) -> RolloutResult:
        """Validate, take the lease, go forward or roll back.

        ``spec`` is taken as any JSON (None when the start had no input) and validated here, so a missing or
        invalid spec fails the workflow at once with ``InvalidRolloutSpec`` listing every problem, instead of
        failing the workflow task forever in the data converter (``workers.converter`` does the same for a payload
        that cannot be decoded at all). ``carried`` is the state a previous run handed over.
        """
        if carried is not None:
            _refuse_foreign_state(carried)
        operator_view = patched(OPERATOR_VIEW_PATCH)
        # Checked once per rollout, like trust-operations; later runs read it from the carried state.
        notify = carried.notify_patch if carried is not None else patched(NOTIFY_PATCH)
        try:
            run = self._run = self._begin(spec, operator_view=operator_view, notify=notify)
        except ApplicationError:
            self._judge_early()  # an invalid spec: what waited is answered (refused) before the run fails
            raise
        if carried is None:
            # Checked once per rollout (later runs carry it): skip and full count only in rollouts started with it.
            run.state.moves_patch = patched(MOVES_PATCH)
            run.note("started", f"{run.spec.stable.version} -> {run.spec.candidate.version}")
        else:
            run.state.record.continued_as_new += 1
        if operator_view:
            run.upsert()  # the list can filter this rollout from its first task
        else:
            run.show()
        # The policy is read once, by the first run; continue-as-new carries it as read.
        if carried is None and patched(SIGNED_APPROVALS_PATCH):
            try:
                await govern(run)
            finally:  # also when the spec is refused: every waiting update gets its answer
                self._judge_early()
        if not self._policy_read:
            self._judge_early()
        leased = patched(SERVICE_LEASE_PATCH)
        if leased:
            await _acquire_lease(run)
        # Released on every ending but continue-as-new (same holder next run) and worker eviction (the run goes
        # on elsewhere): hence Exception and CancelledError, not a `finally`.
        try:
            await _forward_or_roll_back(run)
        except (Exception, asyncio.CancelledError):
            if leased:
                await shielded(_release_lease(run))
            await shielded(drain(run.state, run.deliveries))
            raise
        if leased:
            await shielded(_release_lease(run))
        # After the lease, so the service's next rollout does not wait for a slow receiver; before the result, so
        # the record counts every delivery (each is bounded by calls.NOTIFY_SCHEDULE_TO_CLOSE).
        await drain(run.state, run.deliveries)
        return _finish(run)

    def _begin(self, raw: Any, *, operator_view: bool, notify: bool) -> RolloutRun:
        """Validation is the first act: nothing is called before the spec is known to be whole."""
        try:
            spec = validate_spec(raw)
        except SpecError as exc:
            workflow.logger.error("invalid rollout spec", extra={"problems": exc.problems})
            if operator_view:
                workflow.upsert_search_attributes(view.invalid_spec_attributes(raw))
                workflow.set_current_details(view.invalid_spec_details(exc.args[0], exc.problems))
            raise ApplicationError(
                exc.args[0], {"problems": exc.problems}, type="InvalidRolloutSpec", non_retryable=True
            ) from None
        state = self._carried if self._carried is not None else _new_state(spec, trust=self._trust, notify=notify)
        run = RolloutRun(spec=spec, state=state, raw_spec=raw, interrupts=self._interrupts, operator_view=operator_view)
        waits = {Phase.AWAITING_APPROVAL, Phase.INCONCLUSIVE}
        if self._carried is not None and state.phase in waits and patched(QUIET_RETURN_PATCH):
            run.returning_to = state.phase
        return run

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
        if not self._policy_read:
            self._keep_early(name, payload)
            return
        self._judge_signal(name, payload)

    def _judge_signal(self, name: SignalName, payload: object) -> None:
        outcome = assess(name, payload, signals.context_of(self._run, self._interrupts))
        if isinstance(outcome, Rejected):
            self._reject(name, outcome, payload)
        else:
            self._apply(outcome)

    def _keep_early(self, name: SignalName, payload: object) -> None:
        """Keep a signal for the policy (bounded); past the bound, refuse it, recorded once there is a record."""
        if sum(1 for e in self._early if not e.update) < EARLY_SIGNALS_KEPT:
            self._early.append(_Early(name, payload))
            return
        if len(self._early_refused) < EARLY_SIGNALS_KEPT:
            self._early_refused.append(name)
        else:
            self._early_uncounted[name] = self._early_uncounted.get(name, 0) + 1

    def _judge_early(self) -> None:
        """The policy is in the state (or the rollout was refused): judge what waited for it, in arrival order."""
        self._policy_read = True
        early, self._early = self._early, []
        for item in early:
            if item.update:
                try:
                    item.answer = self._apply_update(item.name, item.payload)
                except ApplicationError as exc:
                    item.answer = exc
                item.judged = True
            else:
                self._judge_signal(item.name, item.payload)
        held, self._early_rejected = self._early_rejected, []
        for name, rejected, payload in held:
            self._reject(name, rejected, payload)
        for name in self._early_refused:
            self._reject(name, Rejected(EARLY_REFUSED), None)
        if self._run is not None:  # past the kept ones, refusals are only counted, as other refusals are
            for name, count in self._early_uncounted.items():
                for _ in range(count):
                    count_rejection(self._run.state.record, name, SIGNAL_NAMES)
        self._early_refused, self._early_uncounted = [], {}

    async def _update(self, name: SignalName, payload: dict[str, Any]) -> str:
        """An update's answer; one that arrived before the policy was read waits for it, in line with signals."""
        if self._policy_read:
            return self._apply_update(name, payload)
        item = _Early(name, payload, update=True)
        self._early.append(item)
        await workflow.wait_condition(lambda: item.judged)
        if isinstance(item.answer, ApplicationError):
            raise item.answer
        assert item.answer is not None
        return item.answer

    def _validate_update(self, name: SignalName, payload: dict[str, Any]) -> None:
        if not self._policy_read:
            return  # judged by the handler once the policy is read (a validator cannot wait)
        outcome = assess(name, payload, signals.context_of(self._run, self._interrupts))
        if not isinstance(outcome, Rejected):
            return
        if self._run is None or not self._run.state.governed:
            # Not retryable: the same request would be refused again; the reason says what to change.
            raise ApplicationError(outcome.reason, type="SignalRejected", non_retryable=True)
        # Under a policy, a refusal about identity or proof (unsigned, forged, replayed, expired) passes to the
        # handler, which records it and fails the update with the same reason: a validator may not change state,
        # and such an attempt must stay in the record. Malformed or meaningless ones stop here, unrecorded.
        if not audited(outcome):
            raise ApplicationError(outcome.reason, type="SignalRejected", non_retryable=True)

    def _apply_update(self, name: SignalName, payload: dict[str, Any]) -> str:
        outcome = assess(name, payload, signals.context_of(self._run, self._interrupts))
        if isinstance(outcome, Rejected):  # refused under a policy, or state moved between validation and handling
            self._reject(name, outcome, payload)
            governed = self._run is not None and self._run.state.governed
            raise ApplicationError(outcome.reason, type="SignalRejected", non_retryable=governed)
        return self._apply(outcome)

    def _apply(self, accepted: Accepted) -> str:
        if self._run is None:
            return signals.apply_before_start(self._interrupts, accepted)
        return signals.apply(self._run, accepted)

    def _reject(self, name: str, rejected: Rejected, payload: object) -> None:
        if self._run is None and self._hold_for_carried:
            # Not into the carried state yet: it must match its digest when the run checks it (bounded like the
            # signals kept for later; past the bound only counted).
            if len(self._early_rejected) < EARLY_SIGNALS_KEPT:
                self._early_rejected.append((name, rejected, payload))
            else:
                self._early_uncounted[name] = self._early_uncounted.get(name, 0) + 1
            return
        state = self._run.state if self._run is not None else self._carried
        signals.keep_rejection(state, name, rejected, payload)

    @workflow.update(name="approve")
    async def approve_update(self, payload: dict[str, Any]) -> str:
        """One approver's yes for the step waiting on approval."""
        return await self._update("approve", payload)

    @approve_update.validator
    def _approve_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("approve", payload)

    @workflow.update(name="reject")
    async def reject_update(self, payload: dict[str, Any]) -> str:
        """An approver's no: the rollout rolls back."""
        return await self._update("reject", payload)

    @reject_update.validator
    def _reject_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("reject", payload)

    @workflow.update(name="pause")
    async def pause_update(self, payload: dict[str, Any]) -> str:
        """Stop the step clock; analyses go on and may still roll back."""
        return await self._update("pause", payload)

    @pause_update.validator
    def _pause_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("pause", payload)

    @workflow.update(name="resume")
    async def resume_update(self, payload: dict[str, Any]) -> str:
        """Start the step clock again."""
        return await self._update("resume", payload)

    @resume_update.validator
    def _resume_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("resume", payload)

    @workflow.update(name="abort")
    async def abort_update(self, payload: dict[str, Any]) -> str:
        """Roll back now."""
        return await self._update("abort", payload)

    @abort_update.validator
    def _abort_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("abort", payload)

    @workflow.update(name="promote")
    async def promote_update(self, payload: dict[str, Any]) -> str:
        """An approver moves a held step on without passing evidence, with a reason for the record."""
        return await self._update("promote", payload)

    @promote_update.validator
    def _promote_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("promote", payload)

    @workflow.update(name="skip")
    async def skip_update(self, payload: dict[str, Any]) -> str:
        """An overrider moves the walk to a later step now; that step runs in full (``workflows.moves``)."""
        return await self._update("skip", payload)

    @skip_update.validator
    def _skip_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("skip", payload)

    @workflow.update(name="full")
    async def full_update(self, payload: dict[str, Any]) -> str:
        """An overrider sends the candidate to 100% now; the strategy's watch, if any, still follows."""
        return await self._update("full", payload)

    @full_update.validator
    def _full_valid(self, payload: dict[str, Any]) -> None:
        self._validate_update("full", payload)

    @workflow.query(name="status")
    def status(self) -> RolloutStatus:
        """Where the rollout is, at a glance."""
        return view.status(self._require().spec, self._require().state, workflow.now())

    @workflow.query(name="record")
    def record(self) -> DeploymentRecord:
        """The deployment record so far."""
        return self._require().state.record

    def _require(self) -> RolloutRun:
        if self._run is None:
            raise RuntimeError("the rollout is still validating its spec")
        return self._run


def _refuse_foreign_state(carried: RolloutState) -> None:
    """A second argument at start is state only this workflow may hand itself: anything else fails at once."""
    info = workflow.info()
    reason = carried_refusal(carried, workflow_id=info.workflow_id, continued_run_id=info.continued_run_id)
    if reason is None:
        return
    workflow.logger.error("carried state refused", extra={"reason": reason})
    workflow.set_current_details(f"## Refused\n\n{reason}\n\nNothing was moved.")
    raise ApplicationError(reason, type="CarriedStateRefused", non_retryable=True)


def _new_state(spec: RolloutSpec, *, trust: bool, notify: bool) -> RolloutState:
    info = workflow.info()
    return RolloutState(
        trust_operations=trust,
        notify_patch=notify,
        record=DeploymentRecord(
            rollout_id=info.workflow_id,
            run_id=info.run_id,
            # Decisions are signed over the first execution's run id: `temporal workflow reset` keeps it.
            first_run_id=info.first_execution_run_id if trust else None,
            service=spec.service,
            requested_by=spec.requested_by,
            description=spec.description,
            stable=spec.stable,
            candidate=spec.candidate,
            strategy=strategy_of(spec),
            criteria=spec.criteria,
            rollback_triggers=spec.rollback_triggers,
            criteria_sha256=criteria_fingerprint(spec),
            # Rollouts started before the sequential judge existed keep the threshold rule they started with;
            # the patch marker makes that choice part of the history.
            judge="sequential" if patched(SEQUENTIAL_JUDGE_PATCH) else "threshold",
            started_at=workflow.now(),
        ),
    )


async def _forward_or_roll_back(run: RolloutRun) -> None:
    try:
        try:
            await forward(run)
        except ActivityError as exc:
            raise RollbackNeeded("router_error", f"forward action failed: {cause(exc)}") from exc
    except RollbackNeeded as rollback:
        await shielded(roll_back(run, rollback))
        await verify_recovery(run)  # with the lease still held: nothing else may move the service meanwhile
    except asyncio.CancelledError:
        await shielded(roll_back(run, RollbackNeeded("cancelled", "the workflow was cancelled")))
        raise


def _finish(run: RolloutRun) -> RolloutResult:
    s = run.state
    s.record.finished_at = workflow.now()
    result = RolloutResult(
        outcome=s.record.outcome,
        summary=view.result_summary(s.record),
        markdown=render_markdown(s.record),
        record=s.record,
    )
    run.show()
    return result


def _lease_request(run: RolloutRun) -> LeaseRequest:
    info = workflow.info()
    return LeaseRequest(
        service=run.spec.service, holder=info.workflow_id, holder_run_id=info.run_id, router=run.router()
    )


async def _acquire_lease(run: RolloutRun) -> None:
    """One running rollout per service: fail at once, naming the running one, if another holds the lease."""
    try:
        await calls.acquire_lease(_lease_request(run), summary=f"lease: only rollout of {run.spec.service}")
    except ActivityError as exc:
        # The activity's own sentence (who holds the lease, what to do) goes on top; the chain below it only
        # repeats the lease workflow's refusal.
        message = activity_message(exc)
        run.state.phase = Phase.FAILED
        run.state.record.outcome = "failed"
        run.note("refused", message)
        if run.operator_view:
            run.upsert()
        raise ApplicationError(message, type="RolloutAlreadyRunning", non_retryable=True) from None


async def _release_lease(run: RolloutRun) -> None:
    await calls.release_lease(_lease_request(run), summary="lease: release")
