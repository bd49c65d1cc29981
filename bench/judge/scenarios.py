"""The benchmark's cells: what differs between the two versions, and which nuisances hit both.

Every cell runs 48 hours of a single canary step at a fixed share of 100 req/s with a +-50 % daily cycle,
polled every 5 minutes. "A/A" and "boundary" cells have a candidate that meets every criterion (the boundary
ones exactly at a limit), so any rollback there is a false rollback; "regression" cells have a candidate
that violates one criterion from ``onset_minute`` on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Group = Literal["aa", "boundary", "regression", "nuisance"]

HOURS = 48
MINUTES = HOURS * 60
POLL_MINUTES = 5


@dataclass(frozen=True)
class Scenario:
    """One cell of the benchmark table."""

    name: str
    group: Group
    description: str
    base_error: float = 0.01
    canary: float = 0.01
    error_ratio: float = 1.0
    latency_scale: float = 1.0
    quality_delta: float = 0.0
    onset_minute: int = 0
    incident: bool = False
    split_drift: bool = False
    missed_scrapes: bool = False
    counter_reset: bool = False
    coarse_buckets: bool = False

    @property
    def violates(self) -> bool:
        """True when the candidate breaks a criterion (any rollback is then a detection)."""
        return self.group == "regression"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("aa-1%", "aa", "A/A, 1% errors, 1% canary"),
    Scenario("aa-0.1%", "aa", "A/A, 0.1% errors, 1% canary", base_error=0.001),
    Scenario("aa-1%-canary5%", "aa", "A/A, 1% errors, 5% canary", canary=0.05),
    Scenario("boundary-errors-1.2x", "boundary", "error ratio exactly 1.2", error_ratio=1.2),
    Scenario("boundary-p95-1.1x", "boundary", "p95 exactly 1.1x (whole latency distribution x1.1)", latency_scale=1.1),
    Scenario("boundary-quality-0.02", "boundary", "quality exactly -0.02", quality_delta=-0.02),
    Scenario("incident-both", "nuisance", "A/A + 1 h incident on both: errors x5, latency x1.5", incident=True),
    Scenario("split-drift", "nuisance", "A/A, canary share drifting 0.5%-2% with the daily cycle", split_drift=True),
    Scenario("missed-scrapes", "nuisance", "A/A, 5% of scrapes missed (stale counters)", missed_scrapes=True),
    Scenario("counter-reset", "nuisance", "A/A, candidate restarts at 6 h and 30 h", counter_reset=True),
    Scenario("errors-1.5x", "regression", "errors x1.5 at 1%", error_ratio=1.5),
    Scenario("errors-2x", "regression", "errors x2 at 1%", error_ratio=2.0),
    Scenario("errors-5x", "regression", "errors x5 at 1%", error_ratio=5.0),
    Scenario("errors-2x-base0.1%", "regression", "errors x2 at 0.1%", error_ratio=2.0, base_error=0.001),
    Scenario("errors-2x-canary5%", "regression", "errors x2 at 1%, 5% canary", error_ratio=2.0, canary=0.05),
    Scenario("errors-2x-onset24h", "regression", "errors x2 at 1% from 24 h on", error_ratio=2.0, onset_minute=24 * 60),
    Scenario("p95-1.2x", "regression", "p95 x1.2", latency_scale=1.2),
    Scenario("p95-1.5x", "regression", "p95 x1.5", latency_scale=1.5),
    Scenario("p95-1.5x-onset24h", "regression", "p95 x1.5 from 24 h on", latency_scale=1.5, onset_minute=24 * 60),
    Scenario("p95-1.5x-coarse", "regression", "p95 x1.5, power-of-2 buckets", latency_scale=1.5, coarse_buckets=True),
    Scenario("quality-0.03", "regression", "quality -0.03", quality_delta=-0.03),
    Scenario("quality-0.05", "regression", "quality -0.05", quality_delta=-0.05),
    Scenario("quality-0.10", "regression", "quality -0.10", quality_delta=-0.10),
    Scenario(
        "quality-0.05-onset24h", "regression", "quality -0.05 from 24 h on", quality_delta=-0.05, onset_minute=24 * 60
    ),
)

QUICK = ("aa-1%", "boundary-errors-1.2x", "errors-2x", "p95-1.5x", "quality-0.05", "counter-reset")
"""Cells of ``--quick`` smoke runs."""
