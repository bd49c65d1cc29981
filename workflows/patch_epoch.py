"""Patch epochs: one marker that stands for every patch a new execution takes.

A ``workflow.patched`` call that a new execution makes writes two events: its marker and an upsert of
``TemporalChangeVersion`` (the SDK's, a visibility write on the server). A new rollout asked 28 patches this way,
about 14 of them before its first weight, and every run that continued as new asked them again; a lease asked 3
in its first task. In a burst of 1,000 starts those events were a quarter of what the server wrote before the
first weights (issue 24).

An execution started under an epoch records the epoch's one marker in its first activation, and every patch the
epoch lists is then taken without a marker of its own. That is exactly what ``workflow.patched`` answers when it
is not replaying: every listed patch true. A history recorded before the epoch has no epoch marker, so its
replay asks each patch on its own, as the code that recorded it did. The lists are frozen: a patch added later is
asked on its own (or goes into a next epoch with a new marker). ``local-counter-reads`` is not listed: a new
rollout never takes it (``remote-counter-reads`` withdraws it), and it is only ever asked after that one.

No I/O: the workflows call ``begin`` first thing in ``__init__`` and keep its answer as ``patches_taken``, which
``patched`` reads through ``workflow.instance()`` (the pure modules are shared across runs, so no module state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from temporalio import workflow


@dataclass(frozen=True)
class Epoch:
    """A marker and the patches a run that records it takes without asking."""

    marker: str
    patches: frozenset[str]


ROLLOUT_EPOCH = Epoch(
    marker="rollout-patches-2026-12",
    patches=frozenset(
        {
            "ab-test-alpha-budget",
            "analysis-cadence",
            "carried-run-signals-wait",
            "carry-state-as-digested",
            "continue-as-new-budget",
            "custom-metrics",
            "decision-before-move",
            "deploy-windows",
            "input-drift",
            "judge-evidence",
            "judge-evidence-2",
            "judge-whole-rollout",
            "lean-history",
            "manual-moves",
            "notifications",
            "operator-view",
            "preflight-baseline-locked",
            "quiet-return",
            "recovery-outcome",
            "remote-counter-reads",
            "sequential-judge",
            "service-lease",
            "shadow-p95-test",
            "signed-approvals",
            "trust-boundary",
            "trust-operations",
            "untestable-once",
            "watch-release-hook",
        }
    ),
)
"""Every patch of ``Rollout`` up to ``quiet-return`` and ``judge-evidence-2`` (December 2026)."""

LEASE_EPOCH = Epoch(
    marker="lease-patches-2026-12",
    patches=frozenset({"lease-trusted-router", "lease-watch-queue", "lease-watch-slow-heartbeat", "lease-watcher"}),
)
"""Every patch of the service lease up to ``lease-watch-slow-heartbeat``."""

TAKEN = "patches_taken"
"""The attribute of a workflow instance that holds what ``begin`` answered."""


def begin(epoch: Epoch) -> frozenset[str]:
    """The patches this run takes without asking: all of the epoch's, or none when replaying an older history.

    Call it first in the run's first activation (``__init__``), before any other patch is asked, and keep the
    answer in the instance's ``patches_taken``.
    """
    return epoch.patches if workflow.patched(epoch.marker) else frozenset()


def patched(patch_id: str, taken: frozenset[str] | None = None) -> bool:
    """``workflow.patched``, but true without a marker for a patch this run's epoch took.

    ``taken``: what ``begin`` answered, for calls from ``__init__`` itself, where the SDK has no instance yet.
    """
    if taken is None:
        taken = cast(frozenset[str], getattr(workflow.instance(), TAKEN, None) or frozenset())
    return patch_id in taken or workflow.patched(patch_id)
