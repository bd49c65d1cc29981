"""A Kayenta-style canary judge: hourly Mann-Whitney comparisons of per-minute metric points.

Modelled on Netflix/Spinnaker Kayenta's ``NetflixACAJudge`` with its ``MannWhitneyClassifier`` (our own
implementation of the published behaviour, not its code): for each metric, the per-minute values of the
canary (experiment) and of stable (control) over the analysis window are compared with a Mann-Whitney
confidence interval for the location shift (Hodges-Lehmann) at 98 %. A metric is "High" when the interval's
lower end exceeds ``tolerance x |Hodges-Lehmann estimate|`` and the mean ratio experiment/control is at
least the allowed increase (1.2); "Low" symmetrically for metrics that must not decrease (quality, whose
allowed decrease is 0.975: 0.02 on a 0.8 mean). With three equally weighted metrics and the usual 75 %
marginal score, any High/Low metric fails the canary.

The interval uses the normal approximation of the U distribution (no tie correction) and order statistics
of the pairwise differences, found by bisection with ``bisect`` counts rather than by listing all m x n
differences.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from itertools import groupby
from statistics import NormalDist

CONFIDENCE = 0.98
TOLERANCE = 0.25
ALLOWED_INCREASE = 1.2
ALLOWED_DECREASE = 0.975


def _count_at_most(groups: list[tuple[float, int]], control: list[float], delta: float) -> int:
    """#{(i, j): experiment_i - control_j <= delta}."""
    n = len(control)
    return sum(weight * (n - _first_at_least(control, value - delta)) for value, weight in groups)


def _first_at_least(values: list[float], threshold: float) -> int:
    # Index of the first control value >= threshold, with a tiny slack so exact ties count as "<= delta".
    return bisect_left(values, threshold - 1e-12 * (1.0 + abs(threshold)))


def _kth_difference(groups: list[tuple[float, int]], experiment: list[float], control: list[float], k: int) -> float:
    """The k-th smallest (1-based) pairwise difference experiment - control, by bisection on its value."""
    low = experiment[0] - control[-1]
    low -= 1e-9 * (1.0 + abs(low))
    high = experiment[-1] - control[0]
    for _ in range(60):
        if high - low <= 1e-9 * (1.0 + abs(high) + abs(low)):
            break
        middle = 0.5 * (low + high)
        if _count_at_most(groups, control, middle) >= k:
            high = middle
        else:
            low = middle
    return high


def shift_interval(experiment: list[float], control: list[float]) -> tuple[float, float, float]:
    """(lower, Hodges-Lehmann estimate, upper) of the location shift experiment - control; inputs sorted."""
    m, n = len(experiment), len(control)
    pairs = m * n
    z = NormalDist().inv_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0)
    spread = math.sqrt(m * n * (m + n + 1) / 12.0)
    k_low = max(1, math.floor(pairs / 2.0 - z * spread))
    k_high = min(pairs, pairs + 1 - k_low)
    groups = [(value, len(list(run))) for value, run in groupby(experiment)]
    estimate = _kth_difference(groups, experiment, control, (pairs + 1) // 2)
    lower = _kth_difference(groups, experiment, control, k_low)
    upper = _kth_difference(groups, experiment, control, k_high)
    return lower, estimate, upper


def _add_in_order(total: float, points: list[float]) -> float:
    # Left to right, as adding minute by minute does: sum() compensates its rounding from Python 3.12 on.
    for point in points:
        total += point
    return total


class MetricSeries:
    """The growing per-minute points of one metric for both versions (sorted when an analysis needs ranks)."""

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.experiment: list[float] = []
        self.control: list[float] = []
        self.experiment_sum = 0.0
        self.control_sum = 0.0

    def extend(self, control: list[float], experiment: list[float]) -> None:
        """Add a batch of minutes' points in minute order, minutes without data left out (Kayenta's NaN strategy).

        Sorting waits for ``fails``: most analyses stop at the effect-size gate, which only needs the sums.
        """
        self.control += control
        self.experiment += experiment
        self.control_sum = _add_in_order(self.control_sum, control)
        self.experiment_sum = _add_in_order(self.experiment_sum, experiment)

    def fails(self) -> bool:
        """True when the metric is classified High (or Low for a must-not-decrease metric)."""
        if not self.experiment or not self.control:
            return False
        control_mean = self.control_sum / len(self.control)
        deviation = 1.0 if control_mean == 0.0 else (self.experiment_sum / len(self.experiment)) / control_mean
        # The effect-size gate is cheap and necessary for High/Low: test it before sorting and the rank
        # statistics. Identical or all-equal samples (checked next) have a mean ratio of 1 and stop here anyway.
        if self.direction == "increase" and deviation < ALLOWED_INCREASE:
            return False
        if self.direction == "decrease" and deviation > ALLOWED_DECREASE:
            return False
        self.experiment.sort()
        self.control.sort()
        if (
            self.experiment == self.control
            or self.experiment[0] == self.experiment[-1] == self.control[0] == (self.control[-1])
        ):
            return False
        lower, estimate, upper = shift_interval(self.experiment, self.control)
        if self.direction == "increase":
            return lower > TOLERANCE * abs(estimate)
        return upper < -TOLERANCE * abs(estimate)
