"""The ``Pipeline`` workflow: a candidate through ordered stages, each a child ``Rollout``.

validate (every stage's rollout spec too) -> one pipeline per service (the workflow id) -> read the policy ->
has this candidate failed a stage before? (then only a signed override lets it start) -> for each stage: wait for
a signed promotion where the stage asks for one, run the stage's Rollout as a child, stop at the first stage that
does not promote. The child is its own workflow (seen, queried and signalled on its own, holding the service's
lease); the pipeline's record links each one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities
    from activities.policy import PolicyActivities
    from models.pipeline import (
        FailureQuery,
        PipelineError,
        PipelineRecord,
        PipelineResult,
        PipelineSpec,
        Promote,
        StageRecord,
        override_digest,
        pipeline_id,
        spec_digest,
        stage_spec,
        validate_pipeline,
    )
    from models.policy import GoverningPolicy, PolicyRequest
    from workflows import search_attributes as sa
    from workflows.pipeline import view
    from workflows.pipeline.authority import verify_pipeline_spec
    from workflows.pipeline.decisions import OVERRIDE_DECISION, PROMOTE_DECISION, Counted, judge
    from workflows.rollout.state import RolloutResult
    from workflows.signatures import Binding, Refused

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=5
)


@workflow.defn(name="Pipeline")
class PipelineWorkflow:
    """One pipeline: its handlers, its query, and the stages in order."""

    def __init__(self) -> None:
        self._spec: PipelineSpec | None = None
        self._record: PipelineRecord | None = None
        self._policy: GoverningPolicy | None = None
        self._raw: dict[str, Any] = {}
        """The spec as started, signature included: each stage carries it as its authority."""
        self._awaiting: int | None = None
        """The index of the stage waiting for a signed promotion, if one is."""

    @workflow.run
    async def run(self, spec: Any = None) -> PipelineResult:
        """Validate, check, then run each stage's rollout in order; the result links every stage's record."""
        info = workflow.info()
        try:
            p = self._spec = validate_pipeline(spec)
        except PipelineError as exc:
            workflow.set_current_details("## Invalid pipeline spec\n\n" + "\n".join(f"- {x}" for x in exc.problems))
            raise ApplicationError(
                str(exc), {"problems": exc.problems}, type="InvalidPipelineSpec", non_retryable=True
            ) from None
        record = self._record = PipelineRecord(
            pipeline_id=info.workflow_id,
            run_id=info.run_id,
            first_run_id=info.first_execution_run_id,
            service=p.service,
            requested_by=p.requested_by,
            stable=p.stable,
            candidate=p.candidate,
            spec_sha256=spec_digest(spec),
            stages=[StageRecord(name=s.name, target=s.target, promotion=s.promotion) for s in p.stages],
            started_at=workflow.now(),
        )
        self._show()
        if info.workflow_id != pipeline_id(p.service):
            self._refuse(
                f"workflow id: a pipeline of {p.service!r} runs as {pipeline_id(p.service)!r} (one per service at "
                f"a time), not {info.workflow_id!r}"
            )
        loaded = await workflow.execute_activity_method(
            PolicyActivities.load_policy,
            PolicyRequest(service=p.service),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ACTIVITY_RETRY,
            summary=f"policy of {p.service}",
        )
        self._policy = loaded.policy
        record.policy_sha256 = None if loaded.policy is None else loaded.policy.sha256
        assert isinstance(spec, dict)  # validate_pipeline checked
        self._raw = spec
        if loaded.policy is not None:
            signed = verify_pipeline_spec(spec, p, loaded.policy, workflow_id=info.workflow_id, now=workflow.now())
            if isinstance(signed, Refused):
                self._refuse(signed.reason)
            assert not isinstance(signed, Refused)
            record.spec_signed_by = signed
        await self._check_failed_before(spec)
        for index in range(len(p.stages)):
            if not await self._stage(index):
                break
        else:
            record.outcome = "promoted"
        record.finished_at = workflow.now()
        self._show()
        return PipelineResult(
            outcome=record.outcome, summary=view.summary(record), markdown=view.details(record), record=record
        )

    async def _check_failed_before(self, raw: dict[str, Any]) -> None:
        """A candidate that rolled back or failed before starts again only with a signed override."""
        p, record = self._require()
        found = await workflow.execute_activity_method(
            PipelineActivities.find_failed_rollouts,
            FailureQuery(service=p.service, candidate_version=p.candidate.version),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ACTIVITY_RETRY,
            summary=f"has {p.candidate.version} failed a stage before?",
        )
        if not found.rollout_ids:
            return
        record.failed_before = found.rollout_ids
        earlier = ", ".join(found.rollout_ids)
        if p.override is None:
            self._refuse(
                f"override: {p.candidate.version} failed before ({earlier}); a pipeline for it needs a signed "
                "override (override.by, override.reason, override.expires, override.signature)"
            )
        assert p.override is not None
        verdict = judge(
            decision=OVERRIDE_DECISION,
            principal=p.override.by,
            text=p.override.reason,
            expires=p.override.expires,
            signature=p.override.signature,
            policy=self._policy,
            requested_by=p.requested_by,
            binding=Binding(
                workflow_id=pipeline_id(p.service),
                run_id="-",
                decision=OVERRIDE_DECISION,
                step=None,
                criteria_sha256=override_digest(raw),
            ),
            now=workflow.now(),
        )
        if isinstance(verdict, Refused):
            self._refuse(f"override: {verdict.reason}")
        assert isinstance(verdict, Counted)
        proof = f"signed {verdict.fingerprint}" if verdict.verified else "unverified"
        record.override = f"{p.override.by} ({proof}): {p.override.reason}"

    async def _stage(self, index: int) -> bool:
        """Run stage ``index``; True when its rollout promoted and the next stage may start."""
        p, record = self._require()
        stage, report = p.stages[index], record.stages[index]
        if stage.promotion == "signed":
            self._awaiting, report.state = index, "awaiting_promotion"
            self._show()
            try:
                await workflow.wait_condition(
                    lambda: report.promoted_by is not None,
                    timeout=stage.promotion_timeout,
                    timeout_summary=f"signed promotion into {stage.name}",
                )
            except TimeoutError:
                report.state = "skipped"
                self._end("expired", f"no signed promotion into {stage.name} within {stage.promotion_timeout}")
                return False
            finally:
                self._awaiting = None
        report.state, report.started_at = "running", workflow.now()
        report.rollout_id = f"{record.pipeline_id}--{stage.name}"
        self._show()
        try:
            handle = await workflow.start_child_workflow(
                "Rollout",
                stage_spec(p, index, self._raw),
                id=report.rollout_id,
                result_type=RolloutResult,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"pipeline {record.pipeline_id}: stage {stage.name}",
            )
            report.rollout_run_id = handle.first_execution_run_id
            self._show()
            result: RolloutResult = await handle
        except ChildWorkflowError as exc:
            report.state, report.finished_at = "failed", workflow.now()
            report.outcome, report.summary = "failed", _cause(exc)
            self._end("stage_failed", f"stage {stage.name} failed: {report.summary}")
            return False
        report.finished_at, report.outcome, report.summary = workflow.now(), result.outcome, result.summary
        if result.outcome != "promoted":
            report.state = "failed"
            self._end("stage_failed", f"stage {stage.name}: {result.summary}")
            return False
        report.state = "promoted"
        self._show()
        return True

    def _end(self, outcome: Any, reason: str) -> None:
        _, record = self._require()
        record.outcome, record.reason = outcome, reason
        for stage in record.stages:
            if stage.state == "pending":
                stage.state = "skipped"
        self._show()

    def _refuse(self, reason: str) -> None:
        _, record = self._require()
        self._end("refused", reason)
        record.finished_at = workflow.now()
        self._show()
        raise ApplicationError(reason, type="PipelineRefused", non_retryable=True)

    def _show(self) -> None:
        p, record = self._require()
        workflow.upsert_search_attributes(
            [
                sa.SERVICE.value_set(p.service),
                sa.CANDIDATE_VERSION.value_set(p.candidate.version),
                sa.OUTCOME.value_set(record.outcome),
            ]
        )
        workflow.set_current_details(view.details(record))

    def _require(self) -> tuple[PipelineSpec, PipelineRecord]:
        if self._spec is None or self._record is None:
            raise ApplicationError("the pipeline is still validating its spec", type="NotStarted")
        return self._spec, self._record

    # ---------------------------------------------------------------- handlers and query

    @workflow.update(name="promote")
    def promote(self, payload: dict[str, Any]) -> str:
        """An approver lets the stage waiting for a signed promotion start."""
        p, record = self._require()
        decision = Promote.model_validate(payload, strict=False)
        index = self._awaiting
        assert index is not None  # the validator checked
        verdict = judge(
            decision=PROMOTE_DECISION,
            principal=decision.approver,
            text=decision.reason,
            expires=decision.expires,
            signature=decision.signature,
            policy=self._policy,
            requested_by=p.requested_by,
            binding=self.promotion_binding(index),
            now=workflow.now(),
        )
        if isinstance(verdict, Refused):
            raise ApplicationError(verdict.reason, type="PromotionRefused", non_retryable=True)
        report = record.stages[index]
        report.promoted_by, report.promotion_verified, report.promotion_key = (
            decision.approver,
            verdict.verified,
            verdict.fingerprint,
        )
        return f"stage {report.name} promoted by {decision.approver}"

    @promote.validator
    def _promote_valid(self, payload: dict[str, Any]) -> None:
        try:
            Promote.model_validate(payload, strict=False)
        except ValueError as exc:
            raise ApplicationError(f"malformed: {exc}", type="PromotionRefused", non_retryable=True) from None
        if self._awaiting is None:
            raise ApplicationError(
                "meaningless: no stage is waiting for a signed promotion", type="PromotionRefused", non_retryable=True
            )

    def promotion_binding(self, index: int) -> Binding:
        """What a promotion into stage ``index`` is signed over: this pipeline, its first run, the stage, the spec."""
        _, record = self._require()
        info = workflow.info()
        return Binding(
            workflow_id=record.pipeline_id,
            run_id=info.first_execution_run_id,
            decision=PROMOTE_DECISION,
            step=index + 1,
            criteria_sha256=record.spec_sha256,
        )

    @workflow.query(name="status")
    def status(self) -> PipelineRecord:
        """The record so far: each stage's state and its rollout's id."""
        return self._require()[1]


def _cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc)[:500]
