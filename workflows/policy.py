"""Does a spec fit the policy that governs its service? Pure: every conflict named, by the spec's field.

A spec may only be stricter than its policy: more approvers needed, tighter criteria and triggers, longer
observation. A rollout that needs people's decisions needs a policy that lists their keys, unless the policy
explicitly allows unsigned decisions (a lab); the requester must sign the spec unless the policy allows unsigned.
"""

from __future__ import annotations

from models.policy import ANYONE, GoverningPolicy
from models.spec import RolloutSpec
from workflows.signatures import Refused, canonical_spec, verify_signed

_CRITERIA_UPPER = ("quality_drop_max", "latency_p95_ratio_max", "error_rate_ratio_max", "alpha")
"""Criteria whose larger value is looser; ``min_requests`` is the one whose smaller value is looser."""


def conflicts(spec: RolloutSpec, governing: GoverningPolicy | None) -> list[str]:
    """Each way the spec loosens its policy, or needs a decision no one can sign; empty when it fits."""
    needs_people = spec.approvals is not None or any(step.approval for step in spec.steps)
    if governing is None:
        if needs_people:
            return [
                "approvals: this rollout needs approvals, but the worker has no policy for service "
                f"{spec.service!r}: no unsigned approval counts (set ROLLOUTS_POLICY_PATH to a policy listing "
                "approvers' keys)"
            ]
        return []
    policy, where = governing.policy, f"policy {governing.scope} ({governing.sha256[:12]})"
    problems: list[str] = []
    if spec.approvals is not None:
        if ANYONE not in policy.approvers:
            for name in spec.approvals.approvers:
                if name not in policy.approvers:
                    problems.append(f"approvals.approvers: {name!r} may not approve under {where}")
        if spec.approvals.quorum < policy.quorum:
            problems.append(f"approvals.quorum: {spec.approvals.quorum} is below the {where} quorum {policy.quorum}")
        if not policy.allow_unsigned:
            keyed = {s.principal for s in governing.signers}
            unkeyed = [n for n in spec.approvals.approvers if n not in keyed]
            if len(set(spec.approvals.approvers) - set(unkeyed) - {spec.requested_by}) < spec.approvals.quorum:
                problems.append(
                    f"approvals.approvers: too few have a key in {where} to reach quorum {spec.approvals.quorum}"
                    + (f" (no key: {', '.join(unkeyed)})" if unkeyed else "")
                )
    if policy.criteria is not None:
        for name in _CRITERIA_UPPER:
            mine, floor = getattr(spec.criteria, name), getattr(policy.criteria, name)
            if mine > floor:
                problems.append(f"criteria.{name}: {mine} is looser than the {where} limit {floor}")
        if spec.criteria.min_requests < policy.criteria.min_requests:
            problems.append(
                f"criteria.min_requests: {spec.criteria.min_requests} is below the {where} minimum "
                f"{policy.criteria.min_requests}"
            )
    if policy.rollback_triggers is not None:
        for name in ("error_rate_ratio", "latency_p95_ratio"):
            mine, floor = getattr(spec.rollback_triggers, name), getattr(policy.rollback_triggers, name)
            if mine > floor:
                problems.append(f"rollback_triggers.{name}: {mine} is looser than the {where} trigger {floor}")
    if policy.min_observation is not None and spec.total_observation < policy.min_observation:
        problems.append(
            f"steps: {spec.total_observation} of observation in all is below the {where} minimum "
            f"{policy.min_observation}"
        )
    return problems


def verify_spec_signature(raw: object, spec: RolloutSpec, governing: GoverningPolicy) -> str | Refused | None:
    """The requester's key fingerprint when the spec is signed by ``requested_by``; None when unsigned.

    Unsigned is a refusal unless the policy allows unsigned decisions.
    """
    if spec.signature is None:
        if governing.policy.allow_unsigned:
            return None
        return Refused(f"signature: the spec must be signed by {spec.requested_by!r} (rollouts sign-spec)")
    try:
        message = canonical_spec(raw)
    except ValueError as exc:
        return Refused(f"signature: {exc}")
    verdict = verify_signed(message, spec.signature, principal=spec.requested_by, policy=governing)
    if isinstance(verdict, Refused):
        return verdict
    return verdict.fingerprint


def requester_fingerprints(spec: RolloutSpec, governing: GoverningPolicy, signed_with: str | None) -> list[str]:
    """Every key that is the requester's: the one that signed the spec and those listed under their name."""
    keys = {s.fingerprint for s in governing.signers if s.principal == spec.requested_by}
    if signed_with is not None:
        keys.add(signed_with)
    return sorted(keys)
