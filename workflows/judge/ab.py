"""An A/B test's winner: the candidate against stable on one primary metric, by anytime-valid intervals.

The guard (every criterion non-inferior, no trigger breached) is the judge's as in any step; an A/B test asks
more: is the candidate *better* on a primary metric, with the judge's confidence? The difference candidate -
stable is bounded by combining each version's empirical-Bernstein confidence sequence (``bernstein.py``, the
same sequences and variance sums the judge keeps for quality and for the absolute error margin): each of the
four one-sided bounds at alpha / 4, so the two-sided interval on the difference covers it with probability at
least 1 - alpha at every analysis at once, and the test may stop at the first one that decides.

* candidate wins: the interval lies beyond ``min_effect`` on the better side AND every criterion passes;
* stable wins: the interval lies wholly on the worse side (the candidate is significantly worse);
* otherwise no winner yet; when the duration ends, the spec's ``on_no_winner`` says what follows.

Pure and deterministic: the workflow calls it with its judge state on every wake-up, and replays it.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from workflows.judge import bernstein
from workflows.judge.models import ArmTotals, JudgeState

ABMetric = Literal["quality", "error_rate"]
Winner = Literal["candidate", "stable"]


class Interval(NamedTuple):
    """Both versions' estimates on the primary metric and the interval on candidate - stable."""

    stable: float
    candidate: float
    lower: float
    upper: float
    samples: tuple[int, int]

    @property
    def difference(self) -> float:
        """Candidate - stable, the point estimate."""
        return self.candidate - self.stable


def _arm(total: float, count: int, variance: float, log_threshold: float) -> tuple[float, float, float]:
    low, high = bernstein.bounds(total, count, variance, log_threshold)
    return total / count, low, high


def interval(state: JudgeState, metric: ABMetric, alpha: float) -> Interval | None:
    """The anytime-valid interval on candidate - stable at level ``alpha``; None without the evidence for one.

    None: no data on an arm yet, the threshold judge (no sequential statistics), or an error rate without the
    judge's error-margin sums (the whole-rollout judge keeps them).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    sequential = state.sequential
    if sequential is None:
        return None
    log_threshold = math.log(4.0 / alpha)
    stable, candidate = state.stable, state.candidate
    if metric == "quality":
        if stable.quality_count <= 0 or candidate.quality_count <= 0:
            return None
        quality = sequential.quality
        arms = (
            _arm(stable.quality_sum, stable.quality_count, quality.stable_variance, log_threshold),
            _arm(candidate.quality_sum, candidate.quality_count, quality.candidate_variance, log_threshold),
        )
        samples = (stable.quality_count, candidate.quality_count)
    else:
        margin = sequential.error_margin
        if margin is None or stable.requests <= 0 or candidate.requests <= 0:
            return None
        arms = (
            _error_arm(stable, margin.stable_variance, log_threshold),
            _error_arm(candidate, margin.candidate_variance, log_threshold),
        )
        samples = (stable.requests, candidate.requests)
    (s_mean, s_low, s_high), (c_mean, c_low, c_high) = arms
    return Interval(stable=s_mean, candidate=c_mean, lower=c_low - s_high, upper=c_high - s_low, samples=samples)


def _error_arm(totals: ArmTotals, variance: float, log_threshold: float) -> tuple[float, float, float]:
    return _arm(min(totals.errors, totals.requests), totals.requests, variance, log_threshold)


def better(found: Interval, metric: ABMetric, min_effect: float) -> bool:
    """The candidate is better than stable by more than ``min_effect``, with the interval's confidence."""
    if metric == "quality":
        return found.lower > min_effect
    return found.upper < -min_effect  # an error rate: lower is better


def worse(found: Interval, metric: ABMetric) -> bool:
    """The candidate is worse than stable, with the interval's confidence."""
    if metric == "quality":
        return found.upper < 0
    return found.lower > 0


def winner(found: Interval | None, metric: ABMetric, min_effect: float, *, criteria_pass: bool) -> Winner | None:
    """Who the evidence names the winner now; None while it names nobody.

    The candidate wins only when the guard holds too (``criteria_pass``: every criterion passes), so a better
    primary metric never buys a worse error rate or latency.
    """
    if found is None:
        return None
    if worse(found, metric):
        return "stable"
    if criteria_pass and better(found, metric, min_effect):
        return "candidate"
    return None


def describe(found: Interval | None, metric: ABMetric, alpha: float) -> str:
    """The estimates and interval in one line, for the record and the timeline."""
    if found is None:
        return f"{metric}: no interval yet (no data on one version)"
    return (
        f"{metric} stable {found.stable:.4f} vs candidate {found.candidate:.4f}, difference {found.difference:+.4f} "
        f"in [{found.lower:+.4f}, {found.upper:+.4f}] ({1 - alpha:.0%} anytime-valid; "
        f"n={found.samples[0]:,}/{found.samples[1]:,})"
    )
