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

The primary metric may also be one of the operators' custom metrics the spec judges (``criteria.custom``), a
``mean`` or a ``rate``, compared on the same kind of interval from the step's custom totals: a mean's observations
rescaled from the definition's bounds to [0, 1] with the variance sums its non-inferiority test keeps; a rate's
requests as observations in [0, 1] (events, at most one per request), whose variance sum with the constant
guess 0 (predictable: fixed before any data) is the event count. The definition's direction says which side is
better.

Pure and deterministic: the workflow calls it with its judge state on every wake-up, and replays it.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from models.custom_metrics import CustomMetric
from workflows.judge import bernstein
from workflows.judge.models import ArmTotals, CustomTestState, CustomTotals, JudgeState

ABMetric = str
"""``quality``, ``error_rate`` or the name of a custom mean or rate the spec judges."""
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


def interval(
    state: JudgeState, metric: ABMetric, alpha: float, definition: CustomMetric | None = None
) -> Interval | None:
    """The anytime-valid interval on candidate - stable at level ``alpha``; None without the evidence for one.

    None: no data on an arm yet, the threshold judge (no sequential statistics), an error rate without the
    judge's error-margin sums (the whole-rollout judge keeps them), or a custom metric not judged yet (no
    ``definition``, or no test state for it).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    sequential = state.sequential
    if sequential is None:
        return None
    log_threshold = math.log(4.0 / alpha)
    stable, candidate = state.stable, state.candidate
    if metric not in ("quality", "error_rate"):
        test = state.custom.get(metric)
        if definition is None or test is None:
            return None
        return _custom(test, definition, log_threshold)
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


def _custom(test: CustomTestState, definition: CustomMetric, log_threshold: float) -> Interval | None:
    """A custom mean's or rate's interval, in the metric's own units (a rate: events per request)."""
    if definition.kind == "mean":
        if test.mean is None or test.stable.count < 1 or test.candidate.count < 1:
            return None
        low, high = definition.bounds
        width = high - low
        variances = (test.mean.stable_variance, test.mean.candidate_variance)
        arms = [
            _scaled_arm(totals, low, width, variance, log_threshold)
            for totals, variance in zip((test.stable, test.candidate), variances, strict=True)
        ]
        samples = (round(test.stable.count), round(test.candidate.count))
        (s_mean, s_low, s_high), (c_mean, c_low, c_high) = [
            (low + mean * width, low + lo * width, low + hi * width) for mean, lo, hi in arms
        ]
    elif definition.kind == "rate":
        if test.stable.requests <= 0 or test.candidate.requests <= 0:
            return None
        (s_mean, s_low, s_high), (c_mean, c_low, c_high) = [
            _rate_arm(totals, log_threshold) for totals in (test.stable, test.candidate)
        ]
        samples = (test.stable.requests, test.candidate.requests)
    else:  # a count has no interval: it is a ceiling, never a comparison
        return None
    return Interval(stable=s_mean, candidate=c_mean, lower=c_low - s_high, upper=c_high - s_low, samples=samples)


def _scaled_arm(
    totals: CustomTotals, low: float, width: float, variance: float, log_threshold: float
) -> tuple[float, float, float]:
    n = round(totals.count)
    total = min(max((totals.value - totals.count * low) / width, 0.0), float(n))
    return _arm(total, n, variance, log_threshold)


def _rate_arm(totals: CustomTotals, log_threshold: float) -> tuple[float, float, float]:
    events = min(max(totals.value, 0.0), float(totals.requests))
    return _arm(events, totals.requests, events, log_threshold)


def _error_arm(totals: ArmTotals, variance: float, log_threshold: float) -> tuple[float, float, float]:
    return _arm(min(totals.errors, totals.requests), totals.requests, variance, log_threshold)


def higher_is_better(metric: ABMetric, definition: CustomMetric | None = None) -> bool:
    """Which way the metric improves: quality up, the error rate down, a custom metric by its direction."""
    if metric == "quality":
        return True
    if metric == "error_rate":
        return False
    return definition is not None and definition.direction == "lower_is_worse"


def better(found: Interval, metric: ABMetric, min_effect: float, definition: CustomMetric | None = None) -> bool:
    """The candidate is better than stable by more than ``min_effect``, with the interval's confidence."""
    if higher_is_better(metric, definition):
        return found.lower > min_effect
    return found.upper < -min_effect


def worse(found: Interval, metric: ABMetric, definition: CustomMetric | None = None) -> bool:
    """The candidate is worse than stable, with the interval's confidence."""
    if higher_is_better(metric, definition):
        return found.upper < 0
    return found.lower > 0


def winner(
    found: Interval | None,
    metric: ABMetric,
    min_effect: float,
    *,
    criteria_pass: bool,
    definition: CustomMetric | None = None,
) -> Winner | None:
    """Who the evidence names the winner now; None while it names nobody.

    The candidate wins only when the guard holds too (``criteria_pass``: every criterion passes), so a better
    primary metric never buys a worse error rate or latency.
    """
    if found is None:
        return None
    if worse(found, metric, definition):
        return "stable"
    if criteria_pass and better(found, metric, min_effect, definition):
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
