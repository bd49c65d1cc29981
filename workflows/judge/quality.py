"""Sequential test of "candidate mean quality >= stable mean quality - drop" for scores in [0, 1].

Method: one anytime-valid confidence sequence per version for its mean score, the predictable-plug-in
empirical-Bernstein construction of Waudby-Smith & Ramdas 2024 ("Estimating means of bounded random
variables by betting", JRSS-B) in the mixture form of Howard et al. 2021 (see ``bernstein.py``), computed
from each poll's sum, sum of squares and count. The difference of means is bounded by combining the two
sequences, each direction at alpha / 2 per version:

* fail when candidate's upper bound < stable's lower bound - drop (candidate is worse by more than drop);
* pass when candidate's lower bound - stable's upper bound >= -drop.

Empirical Bernstein adapts to the actual spread of the scores (typically far below the worst case 1/4 of a
[0, 1] variable), which is what makes a 0.05 drop detectable within a few polls at a 1 % canary.
"""

from __future__ import annotations

import math

from workflows.judge import bernstein
from workflows.judge.increments import Increment
from workflows.judge.models import ArmTotals, QualityTestState

DEFAULT_PRIOR = 0.5
"""Guess of a mean score before any data, when stable's lifetime counters give none."""


def _arm_variance(variance: float, previous: ArmTotals, step: Increment, prior: float) -> float:
    if step.quality_count <= 0:
        return variance
    guess = bernstein.predictable_guess(previous.quality_sum, previous.quality_count, prior)
    return variance + bernstein.variance_increment(
        step.quality_sum, step.quality_sum_squares, step.quality_count, guess
    )


def update(
    state: QualityTestState,
    previous: tuple[ArmTotals, ArmTotals],
    steps: tuple[Increment, Increment],
    prior: float,
) -> QualityTestState:
    """Add one poll's scores; ``prior`` is the guess for a version without earlier scores in the step."""
    return state.model_copy(
        update={
            "stable_variance": _arm_variance(state.stable_variance, previous[0], steps[0], prior),
            "candidate_variance": _arm_variance(state.candidate_variance, previous[1], steps[1], prior),
        }
    )


def evaluate(
    state: QualityTestState, totals: tuple[ArmTotals, ArmTotals], drop: float, alpha: float
) -> tuple[str, float | None, float | None]:
    """Verdict and anytime-valid bounds on candidate mean - stable mean, at level ``alpha`` per direction."""
    stable, candidate = totals
    if stable.quality_count <= 0 or candidate.quality_count <= 0:
        return "inconclusive", None, None
    log_threshold = math.log(2.0 / alpha)
    stable_low, stable_high = bernstein.bounds(
        stable.quality_sum, stable.quality_count, state.stable_variance, log_threshold
    )
    candidate_low, candidate_high = bernstein.bounds(
        candidate.quality_sum, candidate.quality_count, state.candidate_variance, log_threshold
    )
    lower, upper = candidate_low - stable_high, candidate_high - stable_low
    if upper < -drop:
        return "fail", lower, upper
    if lower >= -drop:
        return "pass", lower, upper
    return "inconclusive", lower, upper
