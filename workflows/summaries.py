"""Summaries of timers and activities, written when a command is new and skipped when it is replayed.

A summary is the line the Temporal UI shows on a timer or an activity: user metadata on the command, which the
server stores in the command's event. Replay never sends the commands it re-creates (they are matched against the
events already in the history, and user metadata is not part of that match), yet the SDK still serialises every
summary through the sandbox's data converter. On this 2-core machine that was about a tenth of a rollout run's replay
(``python -m bench.replay_cost``, ADR 42). So a command re-created from history carries no summary, and a new one
carries its summary as before: the histories, the UI and the determinism check see no difference.
"""

from __future__ import annotations

from temporalio import workflow


def shown(summary: str) -> str | None:
    """``summary`` for a command the workflow issues now; None while it re-creates a command from history."""
    return None if workflow.unsafe.is_replaying_history_events() else summary
