"""At start: read the service's policy (once, in an activity), check the spec against it, keep it.

The policy, its SHA-256 and the requester's keys go into the state (what the handlers judge signals by) and the
record (what an auditor reads). A spec that conflicts with its policy, an unsigned or badly signed spec where the
policy wants a signature, or a rollout needing approvals with no policy: the rollout fails at once, before it
touches anything, naming each problem.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from models.custom_metrics import definitions_sha256, used_definitions
    from models.phases import Phase
    from models.policy import GoverningPolicy, PolicyRequest
    from models.record import PolicyRecord, SignedProof
    from models.spec import RolloutSpec
    from workflows.pipeline.authority import stage_authority
    from workflows.policy import conflicts, requester_fingerprints, verify_spec_signature
    from workflows.rollout.bounds import SPEC_PROOF_MAX_CHARS
    from workflows.rollout.context import TRUST_BOUNDARY_PATCH, RolloutRun, cause
    from workflows.signatures import Refused, allowed_signer_line, canonical_spec
    from workflows.targets import choose_target, preflight_baseline_problem

PREFLIGHT_BASELINE_PATCH = "preflight-baseline-locked"

LOAD_POLICY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=5
)


async def govern(run: RolloutRun) -> None:
    """Load and check the policy; raise a non-retryable ``PolicyConflict`` naming every problem."""
    s, spec = run.state, run.spec
    s.governed = True
    try:
        loaded = await workflow.execute_activity_method(
            PolicyActivities.load_policy,
            PolicyRequest(service=spec.service),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=LOAD_POLICY_RETRY,
            summary=f"policy of {spec.service}",
        )
    except ActivityError as exc:
        _refuse(run, [f"policy: {cause(exc)}"], "PolicyUnreadable")
        return
    governing = loaded.policy
    boundary = patched(TRUST_BOUNDARY_PATCH)
    problems = conflicts(spec, governing)
    if boundary:
        chosen = choose_target(spec, governing, lab_mode=loaded.lab_mode)
        if isinstance(chosen, list):
            problems = chosen + problems
        else:
            s.target = chosen
            if spec.criteria.custom:  # the definitions judged by, proven in the record (no custom: nothing recorded)
                used = used_definitions(spec.criteria.custom, chosen.target.custom_metrics)
                s.record.custom_metrics_sha256 = definitions_sha256(used)
            # Since preflight-baseline-locked, an operators' target locks the preflight baseline (new rollouts only).
            if spec.preflight is not None and patched(PREFLIGHT_BASELINE_PATCH):
                locked = preflight_baseline_problem(spec, chosen)
                problems += [] if locked is None else [locked]
    signed_with: str | None = None
    if governing is not None:
        if spec.pipeline_stage is not None:  # a Pipeline's stage: signed through its pipeline (new specs only)
            parent = workflow.info().parent
            verdict = stage_authority(
                run.raw_spec,
                spec,
                governing,
                workflow_id=workflow.info().workflow_id,
                parent_workflow_id=None if parent is None else parent.workflow_id,
            )
        else:
            verdict = verify_spec_signature(
                run.raw_spec,
                spec,
                governing,
                workflow_id=workflow.info().workflow_id if boundary else None,
                now=workflow.now() if boundary else None,
            )
        if isinstance(verdict, Refused):
            problems.append(verdict.reason)
        else:
            signed_with = verdict
        s.requester_keys = requester_fingerprints(spec, governing, signed_with)
    s.policy = governing
    s.record.policy = PolicyRecord(
        source=None if governing is None else governing.source,
        sha256=None if governing is None else governing.sha256,
        scope=None if governing is None else governing.scope,
        allow_unsigned=governing is not None and governing.policy.allow_unsigned,
        spec_signed_by=signed_with,
        note=loaded.note,
        target=None if s.target is None else s.target.name,
        target_origin=None if s.target is None else s.target.origin,
        spec_proof=spec_proof(run.raw_spec, spec, governing, signed_with) if s.trust_operations else None,
    )
    if s.target is not None:
        where = f"target {s.target.name!r}" if s.target.name else f"inline target ({s.target.origin})"
        run.note("target", f"{where}: router {s.target.target.router.kind}, metrics {s.target.target.metrics.kind}")
    if governing is None:
        run.note("policy", loaded.note or "no policy")
    else:
        run.note(
            "policy",
            f"{governing.scope} of {governing.source} sha256 {governing.sha256}"
            + (f"; spec signed by {spec.requested_by} ({signed_with})" if signed_with else "; spec unsigned"),
        )
    if problems:
        _refuse(run, problems, "PolicyConflict")


def _refuse(run: RolloutRun, problems: list[str], kind: str) -> None:
    run.state.phase = Phase.FAILED
    run.state.record.outcome = "failed"
    run.note("refused", "; ".join(problems))
    message = f"the rollout does not fit its policy: {'; '.join(problems)}"
    raise ApplicationError(message, {"problems": problems}, type=kind, non_retryable=True)


def spec_proof(
    raw: object, spec: RolloutSpec, governing: GoverningPolicy | None, signed_with: str | None
) -> SignedProof | None:
    """The spec's canonical message, signature and signer line, so the record alone proves who asked for it.

    None for an unsigned spec, and for a spec too large to copy into the record (its fingerprint still is).
    """
    if governing is None or signed_with is None or spec.signature is None:
        return None
    signer = next(
        (x for x in governing.signers if x.fingerprint == signed_with and x.principal == spec.requested_by), None
    )
    message = canonical_spec(raw).decode()
    if signer is None or len(message) > SPEC_PROOF_MAX_CHARS:
        return None
    return SignedProof(
        message=message, signature=spec.signature, allowed_signer=allowed_signer_line(signer.principal, signer.key)
    )
