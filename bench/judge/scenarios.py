"""The benchmark's cells: what differs between the two versions, and which nuisances hit both.

Every cell runs 48 hours of a single canary step at a fixed share of 100 req/s with a +-50 % daily cycle,
polled every 5 minutes. "A/A" and "boundary" cells have a candidate that meets every criterion (the boundary
ones exactly at a limit), so any rollback there is a false rollback; "regression" cells have a candidate
that violates one criterion from ``onset_minute`` on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Group = Literal["aa", "boundary", "regression", "nuisance", "untestable"]

HOURS = 48
MINUTES = HOURS * 60
POLL_MINUTES = 5
SCRAPE_SECONDS = 15
"""Prometheus' scrape interval in the cells read with samples. 15 s is what Prometheus' example configuration sets
and a common choice in practice (Prometheus' own default, when nothing is set, is 1 min: up to four times the loss).
A restarted pod loses only what it served after its last scrape, so this interval bounds what a restart costs."""


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
    dispersion: float = 0.0
    """Relative sd of each version's error rate from poll to poll, independently (overdispersion): bursts, a
    noisy pod, a heavy user. 0: errors binomial around the steady rate."""
    wobble: Literal["gamma", "lognormal"] = "gamma"
    """The law of the per-poll wobble factors (``dispersion``): gamma, or lognormal (heavier tailed, for cells
    the judge was not tuned on)."""
    steps: tuple[float, ...] = ()
    """Whole-rollout cells: canary weights of equal-length steps over the 48 h (the judge starts a new step at
    each, carrying what the rollout carries); empty: one step at ``canary``."""
    requests_per_minute: float = 6000.0
    """Mean requests per minute of the whole service (both versions) before the daily cycle: 100 req/s."""
    pods: int = 0
    """Pods per version reporting their own counters (``Counters.series``); 0: one process, no breakdown."""
    pod_restart_minutes: int = 0
    """With ``pods``: every this many minutes one pod of each version restarts (in turn), mid-poll."""
    restart_samples: bool = True
    """With ``pods``: the reader keeps the provider's samples (Prometheus), so a restarted pod loses only what it
    served after its last scrape, and the next reading says what it held then (``Counters.before_restart``).
    False: a reader without history (http-json), which sees only the new process' counters."""
    mix_shift: float = 0.0
    """Sticky users: a heavy segment (3x the light one's error rate) makes up half of stable's traffic and
    0.5 + this x sin(2 pi t / 48 h) of the candidate's, so the candidate's users differ and their mix drifts."""
    burst_every_polls: int = 0
    """One-arm bursts: the candidate's error rate x ``burst_ratio`` for one poll in every this many."""
    burst_ratio: float = 10.0
    latency_sigma: float = 0.0
    """Log-scale sd of latency (heavy tail when large), the p95 kept at 250 ms; 0: the default (median 100 ms)."""

    @property
    def violates(self) -> bool:
        """True when the candidate breaks a criterion (any rollback is then a detection)."""
        return self.group == "regression"


ORIGINAL: tuple[Scenario, ...] = (
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

WHOLE_STEPS = (0.01, 0.05, 0.25, 0.5)
"""The default rollout's weights, 12 h each, for the whole-rollout cells."""

_OD = tuple(
    Scenario(
        f"od{level:g}-canary{weight:.0%}",
        "aa",
        f"A/A, 2% errors, {weight:.0%} canary, error rates wobbling {level:.0%} per poll and version",
        base_error=0.02,
        canary=weight,
        dispersion=level,
    )
    for level in (0.08, 0.16, 0.3)
    for weight in (0.01, 0.05, 0.25)
)

ISSUE_11: tuple[Scenario, ...] = (
    *_OD,
    *(
        Scenario(
            f"boundary-errors-1.2x-od0.16-canary{weight:.0%}",
            "boundary",
            f"error ratio exactly 1.2, 2% errors, {weight:.0%} canary, 16% wobble",
            base_error=0.02,
            canary=weight,
            error_ratio=1.2,
            dispersion=0.16,
        )
        for weight in (0.05, 0.25)
    ),
    Scenario("zero-errors", "aa", "A/A, no errors on either version", base_error=0.0),
    Scenario(
        "coarse-healthy",
        "untestable",
        "A/A on power-of-2 buckets (a 1.1x p95 limit cannot be tested)",
        coarse_buckets=True,
    ),
    Scenario("whole-aa", "aa", "A/A over a 4-step rollout (1, 5, 25, 50%, 12 h each)", steps=WHOLE_STEPS),
    Scenario(
        "whole-boundary-errors-1.2x",
        "boundary",
        "error ratio exactly 1.2 over the 4-step rollout",
        error_ratio=1.2,
        steps=WHOLE_STEPS,
    ),
    Scenario(
        "whole-od0.16",
        "aa",
        "A/A, 2% errors, 16% wobble over the 4-step rollout",
        base_error=0.02,
        dispersion=0.16,
        steps=WHOLE_STEPS,
    ),
    Scenario(
        "whole-errors-2x-onset24h",
        "regression",
        "errors x2 at 1% from 24 h on (25% step), 4-step rollout",
        error_ratio=2.0,
        onset_minute=24 * 60,
        steps=WHOLE_STEPS,
    ),
)
"""Cells of issue 11: overdispersion, whole rollouts, zero errors, coarse buckets."""

ISSUE_19: tuple[Scenario, ...] = (
    Scenario(
        "whole-od0.3",
        "aa",
        "A/A, 2% errors, 30% wobble over the 4-step rollout",
        base_error=0.02,
        dispersion=0.3,
        steps=WHOLE_STEPS,
    ),
    *(
        Scenario(
            f"boundary-errors-1.2x-od0.3-canary{weight:.0%}",
            "boundary",
            f"error ratio exactly 1.2, 2% errors, {weight:.0%} canary, 30% wobble",
            base_error=0.02,
            canary=weight,
            error_ratio=1.2,
            dispersion=0.3,
        )
        for weight in (0.05, 0.25)
    ),
    *(
        Scenario(
            f"odln0.3-canary{weight:.0%}",
            "aa",
            f"A/A, 2% errors, {weight:.0%} canary, lognormal 30% wobble per poll and version (not tuned on)",
            base_error=0.02,
            canary=weight,
            dispersion=0.3,
            wobble="lognormal",
        )
        for weight in (0.05, 0.25)
    ),
    Scenario(
        "whole-odln0.3",
        "aa",
        "A/A, 2% errors, lognormal 30% wobble over the 4-step rollout (not tuned on)",
        base_error=0.02,
        dispersion=0.3,
        wobble="lognormal",
        steps=WHOLE_STEPS,
    ),
    Scenario(
        "aa-0.5%-od0.3",
        "aa",
        "A/A, 0.5% errors, 5% canary, 30% wobble (few errors per poll: the late-onset detector's weak spot)",
        base_error=0.005,
        canary=0.05,
        dispersion=0.3,
    ),
    Scenario("errors-2x-canary25%", "regression", "errors x2 at 1%, 25% canary", error_ratio=2.0, canary=0.25),
)
"""Cells of issue 19: 30% wobble over a whole rollout and at the boundary, and wobble the judge was not tuned on."""

HEAVY_TAIL_SIGMA = 1.0
"""Lognormal sd of the heavy-tailed cells: median 48 ms, p95 250 ms, p99 490 ms, p99.9 1.05 s (p99.9 / median 22)."""

ISSUE_19_NEW: tuple[Scenario, ...] = (
    Scenario(
        "partial-resets",
        "nuisance",
        "A/A, 10 pods per version with their own counters, one pod of each restarting every 2 h (mid-poll), read "
        f"from Prometheus' {SCRAPE_SECONDS} s samples",
        pods=10,
        pod_restart_minutes=120,
    ),
    Scenario(
        "partial-resets-whole",
        "nuisance",
        "A/A, 10 pods per version, one restarting every 2 h, over the 4-step rollout, read from Prometheus' "
        f"{SCRAPE_SECONDS} s samples",
        pods=10,
        pod_restart_minutes=120,
        steps=WHOLE_STEPS,
    ),
    Scenario(
        "sticky-mix-shift",
        "nuisance",
        "A/A per user segment; the candidate's sticky users drift 40-60% heavy (3x errors) vs stable's 50%, 5% canary",
        canary=0.05,
        mix_shift=0.1,
    ),
    Scenario(
        "one-arm-bursts",
        "nuisance",
        "A/A but the candidate's errors x10 for one poll every 6 h (then healthy), 5% canary",
        canary=0.05,
        burst_every_polls=72,
    ),
    Scenario(
        "low-traffic",
        "aa",
        "A/A at 1 request per minute (the whole service), 25% canary",
        canary=0.25,
        requests_per_minute=1.0,
    ),
    Scenario(
        "heavy-tail-aa",
        "aa",
        "A/A, heavy-tailed latency (lognormal sd 1.0: p99.9 / median 22), 5% canary",
        canary=0.05,
        latency_sigma=HEAVY_TAIL_SIGMA,
    ),
    Scenario(
        "heavy-tail-boundary-p95-1.1x",
        "boundary",
        "heavy-tailed latency, candidate's latency x1.1 (p95 exactly at the limit), 5% canary",
        canary=0.05,
        latency_sigma=HEAVY_TAIL_SIGMA,
        latency_scale=1.1,
    ),
    Scenario(
        "heavy-tail-p95-1.5x",
        "regression",
        "heavy-tailed latency, candidate's latency x1.5, 5% canary",
        canary=0.05,
        latency_sigma=HEAVY_TAIL_SIGMA,
        latency_scale=1.5,
    ),
    Scenario(
        "whole-boundary-p95-1.1x",
        "boundary",
        "p95 exactly 1.1x over the 4-step rollout",
        latency_scale=1.1,
        steps=WHOLE_STEPS,
    ),
    Scenario(
        "whole-boundary-quality-0.02",
        "boundary",
        "quality exactly -0.02 over the 4-step rollout",
        quality_delta=-0.02,
        steps=WHOLE_STEPS,
    ),
    # Last, so that every other cell keeps its index and hence its runs' seeds.
    Scenario(
        "partial-resets-whole-no-samples",
        "nuisance",
        "partial-resets-whole read without samples (http-json: no history, so a restarted pod's counters hold half "
        "of its restart poll; the other half is lost)",
        pods=10,
        pod_restart_minutes=120,
        steps=WHOLE_STEPS,
        restart_samples=False,
    ),
)
"""Cells issue 19 adds: per-pod counters (read with and without samples), sticky users, one-arm bursts, low
traffic, heavy tails, boundaries."""

SCENARIOS: tuple[Scenario, ...] = (*ORIGINAL, *ISSUE_11, *ISSUE_19, *ISSUE_19_NEW)
"""Every cell: the original 24, then issue 11's, then issue 19's."""

QUICK = ("aa-1%", "boundary-errors-1.2x", "errors-2x", "p95-1.5x", "quality-0.05", "counter-reset")
"""Cells of ``--quick`` smoke runs."""
