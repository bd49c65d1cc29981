"""Caps on what the record carries, so state and result keep a fixed size.

However long the rollout runs and whatever anyone sends it, the record stays small.

Each list keeps what a reader of the record needs: the timeline its first entries (how the rollout began) and a
window of the latest; analyses a window of the latest (every step keeps its own summary and the analysis that
decided it); refused signals the first few in full and a count of all. What is left out is counted.
"""

from __future__ import annotations

from models.record import AnalysisEntry, DeploymentRecord, TimelineEntry

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
