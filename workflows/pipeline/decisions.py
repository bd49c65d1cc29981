"""Who may promote a pipeline into its next stage, or override a version's earlier failure (pure).

Both are decisions, judged as a rollout judges its own (``workflows/approvals.py``): the principal must be among
the policy's overriders (else its approvers), never the requester unless the policy allows it, and the payload
must be signed by a key the policy lists for that principal, over a message bound to this pipeline, the stage and
the spec's digest, unless the policy counts unsigned decisions (labs), which are recorded as unverified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.policy import ANYONE, GoverningPolicy
from workflows.signatures import Binding, Refused, check_expiry, decision_message, verify_signed

OVERRIDE_DECISION = "pipeline-override-failed-version"
PROMOTE_DECISION = "pipeline-promote"


@dataclass(frozen=True)
class Counted:
    """The decision counts: verified (signed by a listed key) or not (the policy allows unsigned)."""

    verified: bool
    fingerprint: str | None = None


def judge(
    *,
    decision: str,
    principal: str,
    text: str | None,
    expires: str | None,
    signature: str | None,
    policy: GoverningPolicy | None,
    requested_by: str,
    binding: Binding,
    now: datetime,
) -> Counted | Refused:
    """Whether ``principal``'s decision counts under ``policy``, and why not."""
    if policy is None:
        return Refused(f"unauthorized: no policy governs this service, so no {decision} can be verified")
    rules = policy.policy
    deciders = rules.overriders if rules.overriders is not None else rules.approvers
    if ANYONE not in deciders and principal not in deciders:
        return Refused(
            f"unauthorized: {principal!r} may not decide {decision} (may: {', '.join(deciders) or 'nobody'})"
        )
    if principal == requested_by and not rules.requester_may_approve:
        return Refused(f"unauthorized: {principal!r} requested this pipeline and cannot decide {decision}")
    if signature is None:
        if rules.allow_unsigned:
            return Counted(verified=False)
        return Refused(f"signature: missing; policy {policy.scope} counts only signed decisions")
    if expires is None:
        return Refused("expires: missing; a signed decision carries the expiry it was signed with")
    late = check_expiry(expires, now, policy)
    if late is not None:
        return late
    message = decision_message(binding, principal=principal, text=text, expires=expires)
    verdict = verify_signed(message, signature, principal=principal, policy=policy)
    if isinstance(verdict, Refused):
        return verdict
    return Counted(verified=True, fingerprint=verdict.fingerprint)
