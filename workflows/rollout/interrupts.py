"""How the outside world interrupts the forward path: a requested rollback, and wake-ups of waiting code."""

from __future__ import annotations

from dataclasses import dataclass

from models.record import RollbackCause


class RollbackNeeded(Exception):
    """Raised inside the forward path: stop going forward and run the compensations."""

    def __init__(self, cause: RollbackCause, reason: str, by: str | None = None) -> None:
        """Why (a ``RollbackCause``), in words, and who asked (None when the rollout decided itself)."""
        super().__init__(reason)
        self.cause, self.reason, self.by = cause, reason, by


@dataclass
class Interrupts:
    """Written by signal handlers, read by the waiting forward path.

    ``wakeups`` is bumped by every accepted signal so that waits re-check their conditions.
    """

    abort: RollbackNeeded | None = None
    wakeups: int = 0
