"""Build a signed decision for a running rollout: read what it is about, sign it, and send it as an update.

The binding comes from the rollout itself (its ``record`` and ``status`` queries): the first execution's run id
(``first_run_id``, which ``temporal workflow reset`` keeps; ``run_id`` for rollouts older than it) and the
criteria SHA-256 from the record, the step from the status. The message is built by the same function the workflow
verifies with (``workflows.signatures.decision_message``), so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from temporalio.client import WorkflowHandle

from models.record import DeploymentRecord
from workers.cli.signing import expiry, ssh_sign
from workflows.rollout.state import RolloutStatus
from workflows.signatures import Binding, decision_message

Decision = Literal["approve", "reject", "promote", "abort", "pause", "resume"]
STEP_BOUND = frozenset({"approve", "promote"})
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


async def binding_of(handle: WorkflowHandle[Any, Any], decision: Decision) -> Binding:
    """What the decision is about, read from the rollout as it is now."""
    record: DeploymentRecord = await handle.query("record", result_type=DeploymentRecord)
    step: int | None = None
    if decision in STEP_BOUND:
        status: RolloutStatus = await handle.query("status", result_type=RolloutStatus)
        if status.step is None:
            raise ValueError(f"{handle.id} is in phase {status.phase.value}: no step to {decision}")
        step = status.step
    return Binding(
        workflow_id=handle.id,
        # The first execution's run id where the rollout keeps it (a reset keeps it too); older rollouts: run_id.
        run_id=record.first_run_id or record.run_id,
        decision=decision,
        step=step,
        criteria_sha256=record.criteria_sha256,
    )


def payload_for(
    decision: Decision, binding: Binding, signer: Signer | None, *, who: str, text: str | None
) -> dict[str, Any]:
    """The update's payload: the named fields of the decision, signed when a signer is given."""
    field = "approver" if decision in {"approve", "reject", "promote"} else "by"
    payload: dict[str, Any] = {field: who}
    if text is not None:
        payload["comment" if decision == "approve" else "reason"] = text
    if signer is not None:
        expires = expiry(signer.valid_for)
        message = decision_message(binding, principal=who, text=text, expires=expires)
        payload["expires"] = expires
        payload["signature"] = ssh_sign(message, signer.key)
    return payload


async def signed_payload(
    handle: WorkflowHandle[Any, Any], decision: Decision, signer: Signer, *, text: str | None = None
) -> dict[str, Any]:
    """A payload for ``decision`` on this rollout, signed now by ``signer``."""
    binding = await binding_of(handle, decision)
    return payload_for(decision, binding, signer, who=signer.principal, text=text)
