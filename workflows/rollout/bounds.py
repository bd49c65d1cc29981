"""Caps on what the record carries, so state and result keep a fixed size.

However long the rollout runs and whatever anyone sends it, the record stays small.

Each list keeps what a reader of the record needs: the timeline its first entries (how the rollout began) and a
window of the latest; analyses a window of the latest (every step keeps its own summary and the analysis that
decided it); refused signals the first few in full and a count of all. What is left out is counted.
"""

from __future__ import annotations

from models.record import AnalysisEntry, DeploymentRecord, SignedProof, TimelineEntry

TIMELINE_HEAD = 40
TIMELINE_TAIL = 160
ANALYSES_KEPT = 100
REJECTIONS_KEPT = 50
UNKNOWN_SIGNAL = "(unknown)"
"""Refused signals are counted per known name; every other name is counted under this one key."""


def add_timeline(record: DeploymentRecord, entry: TimelineEntry) -> None:
    """Append, dropping the oldest entry after the head once the tail is full."""
    record.timeline.append(entry)
    if len(record.timeline) > TIMELINE_HEAD + TIMELINE_TAIL:
        del record.timeline[TIMELINE_HEAD]
        record.timeline_dropped += 1


def add_analysis(record: DeploymentRecord, entry: AnalysisEntry) -> None:
    """Append, dropping the oldest analysis once the window is full."""
    record.analyses.append(entry)
    if len(record.analyses) > ANALYSES_KEPT:
        del record.analyses[0]
        record.analyses_dropped += 1


def count_rejection(record: DeploymentRecord, name: str, known: tuple[str, ...]) -> bool:
    """Count a refused signal; True when it should also be kept in full (the first ``REJECTIONS_KEPT``)."""
    key = name if name in known else UNKNOWN_SIGNAL
    record.rejected_signal_counts[key] = record.rejected_signal_counts.get(key, 0) + 1
    return len(record.rejected_signals) < REJECTIONS_KEPT


def rejected_total(record: DeploymentRecord) -> int:
    """Every refused signal, kept or only counted (records from before the counts: the kept list)."""
    return max(sum(record.rejected_signal_counts.values()), len(record.rejected_signals))


PROOFS_BUDGET_CHARS = 96 * 1024
"""Characters of signed decisions' proofs (message, signature, key line) the record keeps in all. An ed25519
decision's proof is under 1,000 characters, so about a hundred decisions keep theirs; later ones keep the
fingerprint only and are counted in ``proofs_omitted``. Anyone listed may sign, so this must have a bound."""
SIGNED_OPERATIONS_KEPT = 50
"""Signed rejections, aborts, pauses and resumes kept in ``signed_operations``; later ones are counted."""
SPEC_PROOF_MAX_CHARS = 32 * 1024
"""Largest canonical spec kept as the spec's proof: a written spec is a few kilobytes; a larger one keeps its
signer's fingerprint only (its bytes are in the first run's input)."""


def proof_size(proof: SignedProof | None) -> int:
    """Characters a proof adds to the record."""
    return 0 if proof is None else len(proof.message) + len(proof.signature) + len(proof.allowed_signer)


def keep_proof(record: DeploymentRecord, proof: SignedProof | None) -> SignedProof | None:
    """``proof`` while the record's budget for proofs allows it; None (counted) once it is spent."""
    if proof is None:
        return None
    used = sum(proof_size(a.proof) for a in record.approvals)
    used += sum(proof_size(o.proof) for o in record.overrides)
    used += sum(proof_size(o.proof) for o in record.signed_operations)
    if used + proof_size(proof) > PROOFS_BUDGET_CHARS:
        record.proofs_omitted += 1
        return None
    return proof
