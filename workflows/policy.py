"""Does a spec fit the policy that governs its service? Pure: every conflict named, by the spec's field.

A spec may only be stricter than its policy: more approvers needed, tighter criteria and triggers, longer
observation. A rollout that needs people's decisions needs a policy that lists their keys, unless the policy
explicitly allows unsigned decisions (a lab); the requester must sign the spec unless the policy allows unsigned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from models.durations import format_duration
from models.policy import ANYONE, GoverningPolicy, ServicePolicy
from models.spec import RolloutSpec
from models.strategy import approval_field, replay_positions
from workflows.signatures import Refused, canonical_spec, verify_signed

_CRITERIA_UPPER = ("quality_drop_max", "latency_p95_ratio_max", "error_rate_ratio_max", "error_rate_margin", "alpha")
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
    problems += floor_problems(spec, policy, where)
    problems += required_approval_problems(spec, policy, where)
    return problems


def weighted_observation(spec: RolloutSpec) -> timedelta:
    """Observation weighted by exposure: each step's observe time times its weight over the largest weight.

    A step at half the final canary weight counts half its time, so minutes at 1% cannot stand in for hours at 50%.
    """
    top = max(step.weight for step in spec.steps)
    total = sum((step.observe * (step.weight / top) for step in spec.steps), timedelta())
    return timedelta(seconds=int(total.total_seconds()))  # whole seconds: what a person reads in the refusal


def floor_problems(spec: RolloutSpec, policy: ServicePolicy, where: str) -> list[str]:
    """Each spec field that loosens a decision, held to the floor the policy sets for it (when it sets one)."""
    problems: list[str] = []
    weighted = weighted_observation(spec)
    if policy.min_weighted_observation is not None and weighted < policy.min_weighted_observation:
        problems.append(
            f"steps: {format_duration(weighted)} of observation weighted by exposure is below the {where} minimum "
            f"{format_duration(policy.min_weighted_observation)} (each step counts its weight over the largest)"
        )
    if policy.max_analysis_interval is not None and spec.analysis_interval > policy.max_analysis_interval:
        problems.append(
            f"analysis_interval: {format_duration(spec.analysis_interval)} is longer than the {where} maximum "
            f"{format_duration(policy.max_analysis_interval)}"
        )
    if policy.accept_untestable is not None:
        for name in spec.accept_untestable:
            if name not in policy.accept_untestable:
                problems.append(f"accept_untestable: {name!r} may not be accepted as untestable under {where}")
    ratio_floor = policy.accept_untestable_ratio_max
    if ratio_floor is not None and spec.untestable_ratio_max > ratio_floor:
        problems.append(
            f"accept_untestable_ratio_max: {spec.untestable_ratio_max:g} is more than the {where} maximum "
            f"{ratio_floor:g}"
        )
    if (failures := policy.analysis_failures) is not None:
        mine = spec.analysis_failures
        if mine.max_consecutive > failures.max_consecutive:
            problems.append(
                f"analysis_failures.max_consecutive: {mine.max_consecutive} is more than the {where} maximum "
                f"{failures.max_consecutive}"
            )
        if failures.action == "rollback" and mine.action != "rollback":
            problems.append(f"analysis_failures.action: {mine.action!r} where {where} requires 'rollback'")
    if (inconclusive := policy.on_inconclusive) is not None:
        mine_i = spec.on_inconclusive
        if mine_i.max_extensions > inconclusive.max_extensions:
            problems.append(
                f"on_inconclusive.max_extensions: {mine_i.max_extensions} is more than the {where} maximum "
                f"{inconclusive.max_extensions}"
            )
        if mine_i.hold_max > inconclusive.hold_max:
            problems.append(
                f"on_inconclusive.hold_max: {format_duration(mine_i.hold_max)} is longer than the {where} maximum "
                f"{format_duration(inconclusive.hold_max)}"
            )
        if inconclusive.then == "rollback" and mine_i.then != "rollback":
            problems.append(f"on_inconclusive.then: {mine_i.then!r} where {where} requires 'rollback'")
        if (
            inconclusive.extend_by is not None
            and mine_i.extend_by is not None
            and mine_i.extend_by > inconclusive.extend_by
        ):
            problems.append(
                f"on_inconclusive.extend_by: {format_duration(mine_i.extend_by)} is longer than the {where} "
                f"maximum {format_duration(inconclusive.extend_by)}"
            )
    if (
        policy.min_shadow_agreement is not None
        and spec.shadow is not None
        and spec.shadow.min_agreement < policy.min_shadow_agreement
    ):
        problems.append(
            f"shadow.min_agreement: {spec.shadow.min_agreement} is below the {where} minimum "
            f"{policy.min_shadow_agreement}"
        )
    if policy.min_shadow_agreement is not None:
        problems += [
            f"strategy[{index}].min_agreement: {item.min_agreement} is below the {where} minimum "
            f"{policy.min_shadow_agreement}"
            for index, _, item in replay_positions(spec.strategy)
            if item.min_agreement < policy.min_shadow_agreement
        ]
    if (
        policy.max_preflight_tolerance is not None
        and spec.preflight is not None
        and spec.preflight.tolerance > policy.max_preflight_tolerance
    ):
        problems.append(
            f"preflight.tolerance: {spec.preflight.tolerance} is more than the {where} maximum "
            f"{policy.max_preflight_tolerance}"
        )
    return problems


def required_approval_problems(spec: RolloutSpec, policy: ServicePolicy, where: str) -> list[str]:
    """The approvals the policy requires: a spec asking for fewer is refused, naming the step that lacks one."""
    required = policy.require_approvals
    if required is None:
        return []
    problems: list[str] = []
    if spec.approvals is None:
        problems.append(
            f"approvals: {where} requires approvals (quorum {policy.quorum}"
            + (", before the final promotion" if required.before_promotion else "")
            + (f", at every step from {required.from_weight:g}%" if required.from_weight is not None else "")
            + "); add approvals with approvers and a quorum"
        )
    last = len(spec.steps) - 1
    for index, step in enumerate(spec.steps):
        needs = (required.before_promotion and index == last) or (
            required.from_weight is not None and step.weight >= required.from_weight
        )
        if needs and not step.approval:
            why = (
                "before the final promotion"
                if required.before_promotion and index == last
                else f"at weights from {required.from_weight:g}%"
            )
            field = approval_field(spec.strategy, index)
            problems.append(f"{field}: {where} requires approval {why}; set it to true")
    return problems


def verify_spec_signature(
    raw: object,
    spec: RolloutSpec,
    governing: GoverningPolicy,
    *,
    workflow_id: str | None = None,
    now: datetime | None = None,
) -> str | Refused | None:
    """The requester's key fingerprint when the spec is signed by ``requested_by``; None when unsigned.

    Unsigned is a refusal unless the policy allows unsigned decisions. With ``workflow_id`` and ``now`` (rollouts
    started under the trust-boundary rules), a signed spec must name this workflow id and a ``not_after`` that has
    not passed and is within the policy's ``max_signature_validity``: both are covered by the signature, so a
    signed spec copied out of a history cannot start another rollout, nor the same one later.
    """
    if spec.signature is None:
        if governing.policy.allow_unsigned:
            return None
        return Refused(f"signature: the spec must be signed by {spec.requested_by!r} (rollouts sign-spec)")
    if workflow_id is not None and now is not None and (late := binding_problem(spec, governing, workflow_id, now)):
        return late
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


class BoundSpec(Protocol):
    """A signed spec's binding fields: a rollout's or a pipeline's."""

    @property
    def workflow_id(self) -> str | None:
        """The workflow id the spec may start."""

    @property
    def not_after(self) -> str | None:
        """The instant after which it may no longer start."""


def binding_problem(spec: BoundSpec, governing: GoverningPolicy, workflow_id: str, now: datetime) -> Refused | None:
    """Why a signed spec may not start ``workflow_id`` now: another workflow id, no or a passed ``not_after``."""
    if spec.workflow_id is None:
        return Refused("workflow_id: missing; a signed spec names the workflow id it may start (rollouts sign-spec)")
    if spec.workflow_id != workflow_id:
        return Refused(
            f"workflow_id: the spec was signed to start {spec.workflow_id!r}, not {workflow_id!r}; sign it again"
        )
    if spec.not_after is None:
        return Refused("not_after: missing; a signed spec carries the instant after which it may not start")
    at = datetime.fromisoformat(spec.not_after.replace("Z", "+00:00"))
    if at <= now:
        return Refused(f"not_after: the signed spec expired at {spec.not_after}; sign it again")
    if at - now > governing.policy.max_signature_validity + timedelta(minutes=5):
        return Refused(
            f"not_after: {spec.not_after} is further than the policy's max_signature_validity "
            f"({format_duration(governing.policy.max_signature_validity)}) from now"
        )
    return None
