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
of the pairwise differences, found by bisection on their value with vectorised counts of the pairs at most
a value (``searchsorted`` over the distinct experiment values) rather than by listing all m x n differences.
A classification needs only the estimate and one end of the interval, and only until their comparison is
settled, so each bisection advances on demand. The steps it takes are those of the complete bisection (the
result always lies within the current bracket), so every classification is that of the complete interval.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

CONFIDENCE = 0.98
TOLERANCE = 0.25
ALLOWED_INCREASE = 1.2
ALLOWED_DECREASE = 0.975
_Z = NormalDist().inv_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0)
_MAX_STEPS = 60

FloatArray = NDArray[np.float64]


class _Differences:
    """The m x n pairwise differences experiment - control, held as distinct experiment values and sorted control."""

    def __init__(self, experiment: FloatArray, control: FloatArray) -> None:
        starts = np.flatnonzero(np.concatenate(([True], experiment[1:] != experiment[:-1])))
        self.values = experiment[starts]
        self.weights = np.diff(np.append(starts, experiment.size))
        self.control = control
        self.pairs = experiment.size * control.size
        # Every search starts from the same bracket: the extreme differences, the lower one nudged below.
        low = float(experiment[0]) - float(control[-1])
        self.low = low - 1e-9 * (1.0 + abs(low))
        self.high = float(experiment[-1]) - float(control[0])
        self._counts: dict[float, int] = {}  # the searches share their first midpoints

    def count_at_most(self, delta: float) -> int:
        """#{(i, j): experiment_i - control_j <= delta}, exact ties included through a tiny slack."""
        count = self._counts.get(delta)
        if count is None:
            shifted = self.values - delta
            # Per distinct value: the first control value >= threshold, the threshold lowered by 1e-12 relative
            # so that exact ties count as "<= delta" despite rounding.
            first = np.searchsorted(self.control, shifted - 1e-12 * (1.0 + np.abs(shifted)), side="left")
            count = self.pairs - int(self.weights @ first)
            self._counts[delta] = count
        return count


class _Search:
    """Bisection on the value of the k-th smallest (1-based) difference, advanced one step at a time.

    The steps are those of a plain bisection from the extreme differences (at most 60, until the bracket is
    within 1e-9 relative); its result is the final upper end. Until then the result lies in [low, high].
    """

    def __init__(self, differences: _Differences, k: int) -> None:
        self.differences = differences
        self.k = k
        self.low = differences.low
        self.high = differences.high
        self.steps = 0
        self.done = self._converged()

    def _converged(self) -> bool:
        return self.steps == _MAX_STEPS or self.high - self.low <= 1e-9 * (1.0 + abs(self.high) + abs(self.low))

    def step(self) -> None:
        middle = 0.5 * (self.low + self.high)
        if self.differences.count_at_most(middle) >= self.k:
            self.high = middle
        else:
            self.low = middle
        self.steps += 1
        self.done = self._converged()

    def bounds(self) -> tuple[float, float]:
        """Where the result lies: (high, high) once done."""
        return (self.high, self.high) if self.done else (self.low, self.high)

    def result(self) -> float:
        while not self.done:
            self.step()
        return self.high


def _ranks(m: int, n: int) -> tuple[int, int, int]:
    """(k of the lower end, of the Hodges-Lehmann estimate, of the upper end) among the m x n differences."""
    pairs = m * n
    spread = math.sqrt(m * n * (m + n + 1) / 12.0)
    k_low = max(1, math.floor(pairs / 2.0 - _Z * spread))
    return k_low, (pairs + 1) // 2, min(pairs, pairs + 1 - k_low)


def shift_interval(experiment: FloatArray, control: FloatArray) -> tuple[float, float, float]:
    """(lower, Hodges-Lehmann estimate, upper) of the location shift experiment - control; inputs sorted."""
    differences = _Differences(experiment, control)
    k_low, k_estimate, k_high = _ranks(experiment.size, control.size)
    lower, estimate, upper = (_Search(differences, k).result() for k in (k_low, k_estimate, k_high))
    return lower, estimate, upper


def shift_exceeds_tolerance(experiment: FloatArray, control: FloatArray, direction: str) -> bool:
    """``lower > TOLERANCE x |estimate|`` ("increase") or ``upper < -TOLERANCE x |estimate|``; inputs sorted.

    The same answer as comparing ``shift_interval``'s values, with each bisection stepped only while the
    comparison could still go either way given where its result and the estimate can lie.
    """
    differences = _Differences(experiment, control)
    k_low, k_estimate, k_high = _ranks(experiment.size, control.size)
    increase = direction == "increase"
    estimate = _Search(differences, k_estimate)
    end = _Search(differences, k_low if increase else k_high)
    while True:
        estimate_low, estimate_high = estimate.bounds()
        end_low, end_high = end.bounds()
        largest = TOLERANCE * max(abs(estimate_low), abs(estimate_high))  # bounds of TOLERANCE x |estimate|
        smallest = (
            0.0 if estimate_low <= 0.0 <= estimate_high else TOLERANCE * min(abs(estimate_low), abs(estimate_high))
        )
        if increase:
            if end_low > largest:
                return True
            if end_high <= smallest:
                return False
        else:
            if end_high < -largest:
                return True
            if end_low >= -smallest:
                return False
        # Undecided, so at least one is not done: halve the wider uncertainty.
        if estimate.done or (not end.done and end_high - end_low >= TOLERANCE * (estimate_high - estimate_low)):
            end.step()
        else:
            estimate.step()


def _add_in_order(total: float, points: list[float]) -> float:
    # Left to right, as adding minute by minute does: sum() compensates its rounding from Python 3.12 on.
    for point in points:
        total += point
    return total


class _Points:
    """One version's points: their count and in-order sum, and a sorted array updated only when ranks are needed."""

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self._sorted: FloatArray = np.empty(0)
        self._new: list[float] = []

    def extend(self, points: list[float]) -> None:
        self.count += len(points)
        self.sum = _add_in_order(self.sum, points)
        self._new += points

    def sorted(self) -> FloatArray:
        if self._new:
            self._sorted = np.sort(np.concatenate((self._sorted, self._new)), kind="stable")
            self._new = []
        return self._sorted


class MetricSeries:
    """The growing per-minute points of one metric for both versions."""

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.experiment = _Points()
        self.control = _Points()

    def extend(self, control: list[float], experiment: list[float]) -> None:
        """Add a batch of minutes' points in minute order, minutes without data left out (Kayenta's NaN strategy).

        Sorting waits for ``fails``: most analyses stop at the effect-size gate, which only needs the sums.
        """
        self.control.extend(control)
        self.experiment.extend(experiment)

    def fails(self) -> bool:
        """True when the metric is classified High (or Low for a must-not-decrease metric)."""
        if not self.experiment.count or not self.control.count:
            return False
        control_mean = self.control.sum / self.control.count
        deviation = 1.0 if control_mean == 0.0 else (self.experiment.sum / self.experiment.count) / control_mean
        # The effect-size gate is cheap and necessary for High/Low: test it before sorting and the rank
        # statistics. Identical or all-equal samples (checked next) have a mean ratio of 1 and stop here anyway.
        if self.direction == "increase" and deviation < ALLOWED_INCREASE:
            return False
        if self.direction == "decrease" and deviation > ALLOWED_DECREASE:
            return False
        experiment, control = self.experiment.sorted(), self.control.sorted()
        if np.array_equal(experiment, control) or experiment[0] == experiment[-1] == control[0] == control[-1]:
            return False
        return shift_exceeds_tolerance(experiment, control, self.direction)
