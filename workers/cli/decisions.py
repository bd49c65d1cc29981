"""Build a signed decision for a running rollout: read what it is about, sign it, and send it as an update.

The binding comes from the rollout itself (its ``record`` and ``status`` queries): the first execution's run id
(``first_run_id``, which ``temporal workflow reset`` keeps; ``run_id`` for rollouts older than it) and the
criteria SHA-256 from the record, the step from the status. The message is built by the same function the workflow
verifies with (``workflows.signatures.decision_message``), so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from temporalio.client import WorkflowHandle

from models.record import DeploymentRecord
from workers.cli.signing import expiry, ssh_sign
from workflows.moves import move_decision
from workflows.rollout.state import RolloutStatus
from workflows.signatures import Binding, decision_message

Decision = Literal["approve", "reject", "promote", "abort", "pause", "resume", "skip", "full"]
STEP_BOUND = frozenset({"approve", "promote", "skip", "full"})
"""Decisions about one step; the others are about the whole rollout."""


@dataclass(frozen=True)
class Signer:
    """Who signs, with which key, for how long the signature stays good."""

    principal: str
    key: Path
    valid_for: timedelta = timedelta(minutes=15)


def principal_of(key: Path) -> str | None:
    """The comment of the key's ``.pub`` file (``ssh-keygen -C you@example.com``), the usual principal."""
    public = key if key.suffix == ".pub" else key.with_name(key.name + ".pub")
    try:
        parts = public.read_text().split(maxsplit=2)
    except OSError:
        return None
    return parts[2].strip() if len(parts) == 3 and parts[2].strip() else None


async def binding_of(handle: WorkflowHandle[Any, Any], decision: Decision, *, to: int | None = None) -> Binding:
    """What the decision is about, read from the rollout as it is now (``to``: a skip's target step)."""
    return binding_from(handle.id, decision, *await read_rollout(handle), to=to)


async def read_rollout(handle: WorkflowHandle[Any, Any]) -> tuple[DeploymentRecord, RolloutStatus]:
    """The rollout's record and status, as they are now: what a decision binds to and what it is about."""
    record: DeploymentRecord = await handle.query("record", result_type=DeploymentRecord)
    status: RolloutStatus = await handle.query("status", result_type=RolloutStatus)
    return record, status


def binding_from(
    workflow_id: str, decision: Decision, record: DeploymentRecord, status: RolloutStatus, *, to: int | None = None
) -> Binding:
    """The binding of ``decision`` to the rollout whose ``record`` and ``status`` were read.

    A skip's target step is part of what is signed (``workflows.moves.move_decision``).
    """
    step: int | None = None
    if decision in STEP_BOUND:
        if status.step is None:
            raise ValueError(f"{workflow_id} is in phase {status.phase.value}: no step to {decision}")
        step = status.step
    return Binding(
        workflow_id=workflow_id,
        # The first execution's run id where the rollout keeps it (a reset keeps it too); older rollouts: run_id.
        run_id=record.first_run_id or record.run_id,
        decision=move_decision(to) if decision == "skip" else decision,
        step=step,
        criteria_sha256=record.criteria_sha256,
    )


def payload_for(
    decision: Decision,
    binding: Binding,
    signer: Signer | None,
    *,
    who: str,
    text: str | None,
    expires: str | None = None,
    to: int | None = None,
) -> dict[str, Any]:
    """The update's payload: the named fields of the decision, signed when a signer is given.

    ``expires`` is the expiry the person was shown (default: ``signer.valid_for`` from now).
    """
    field = "approver" if decision in {"approve", "reject", "promote"} else "by"
    payload: dict[str, Any] = {field: who}
    if decision == "skip":
        payload["to"] = to
    if text is not None:
        payload["comment" if decision == "approve" else "reason"] = text
    if signer is not None:
        expires = expires or expiry(signer.valid_for)
        message = decision_message(binding, principal=who, text=text, expires=expires)
        payload["expires"] = expires
        payload["signature"] = ssh_sign(message, signer.key)
    return payload


async def signed_payload(
    handle: WorkflowHandle[Any, Any],
    decision: Decision,
    signer: Signer,
    *,
    text: str | None = None,
    to: int | None = None,
) -> dict[str, Any]:
    """A payload for ``decision`` on this rollout, signed now by ``signer``."""
    binding = await binding_of(handle, decision, to=to)
    return payload_for(decision, binding, signer, who=signer.principal, text=text, to=to)


NOUNS: dict[Decision, str] = {
    "approve": "approval",
    "reject": "rejection",
    "promote": "override",
    "skip": "skip",
    "full": "move to 100%",
}
"""What the confirmation question calls each signed decision."""


def summary(
    decision: Decision,
    record: DeploymentRecord,
    status: RolloutStatus,
    *,
    who: str,
    text: str | None,
    expires: str,
) -> str:
    """What the person is about to sign, in words: a signature should never be given for something unseen.

    The rollout, service and versions, the step and its weight, the evidence so far, the decision's text and the
    expiry: enough to notice a wrong rollout id or a step that is not the one a dashboard showed.
    """
    step = "-" if status.step is None else f"{status.step} of {status.steps}"
    evidence = status.step_evidence or "none"
    last = status.last_analysis
    analysis = "no analysis yet" if last is None else f"{last.decision}: {last.reason}"
    lines = [
        f"You are about to sign this {NOUNS.get(decision, decision)} as {who}:",
        f"  rollout:   {record.rollout_id} (run {record.run_id})",
        f"  service:   {record.service}",
        f"  versions:  {record.stable.version} -> {record.candidate.version} (stable -> candidate)",
        f"  step:      {step}, candidate weight {status.weight:g}% (phase {status.phase.value})",
        f"  evidence:  {evidence}; last analysis: {analysis}",
        f"  decision:  {decision} {json.dumps(text or '', ensure_ascii=False)}",
        f"  expires:   {expires}",
    ]
    return "\n".join(lines)


class NotConfirmed(Exception):
    """The person did not confirm, or could not be asked: nothing was signed."""


def confirm(decision: Decision, *, yes: bool, interactive: bool, ask: Callable[[str], str]) -> None:
    """Go on only with ``--yes`` or a "y" typed at a terminal; without a terminal, say how to go on."""
    if yes:
        return
    if not interactive:
        raise NotConfirmed(f"not a terminal, so nobody can confirm: pass --yes to sign this {NOUNS[decision]}")
    if ask(f"Sign this {NOUNS[decision]}? [y/N] ").strip().lower() not in {"y", "yes"}:
        raise NotConfirmed("not signed")
