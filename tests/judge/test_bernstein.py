"""The empirical-Bernstein mixture: the shortcuts must agree with the definition they shortcut."""

from __future__ import annotations

import math
import random

import pytest

from workflows.judge import bernstein


def _cases(count: int) -> list[tuple[float, float, float]]:
    rng = random.Random(11)
    cases = []
    for _ in range(count):
        variance = 10 ** rng.uniform(-2, 6)
        # Excesses around the interesting region, sqrt(2 V log(1/alpha)), on both sides of it.
        excess = rng.uniform(-0.5, 3.0) * math.sqrt(2 * variance * 5) + rng.uniform(-3, 3)
        cases.append((excess, variance, rng.uniform(0.5, 12.0)))
    return cases


def test_exceeds_matches_the_mixture_e_value() -> None:
    cases = _cases(2_000)
    wrong = [
        case for case in cases if bernstein.exceeds(*case) is not (bernstein.log_e_value_above(*case[:2]) >= case[2])
    ]
    assert wrong == []
    # Vacuous if every case fell on the same side.
    assert 300 < sum(bernstein.exceeds(*case) for case in cases) < 1_700


@pytest.mark.parametrize("variance", [0.0, 0.5, 40.0, 3_000.0, 2e6])
def test_bounds_sit_where_the_e_value_reaches_the_threshold(variance: float) -> None:
    count, total, log_threshold = 10_000, 8_000.0, math.log(40)
    lower, upper = bernstein.bounds(total, count, variance, log_threshold)
    assert 0.0 <= lower <= total / count <= upper <= 1.0
    # At the lower bound the e-value against "mean <= mu0" is at the threshold; a hair above it, below.
    if lower > 0.0:
        assert bernstein.log_e_value_above(total - count * lower, variance) == pytest.approx(log_threshold, abs=1e-3)
        assert bernstein.log_e_value_above(total - count * (lower + 1e-4), variance) < log_threshold
    # The upper bound is the lower bound of 1 - X, which has the same variance sum.
    assert upper == pytest.approx(1.0 - bernstein.bounds(count - total, count, variance, log_threshold)[0])


def test_no_data_gives_the_whole_interval() -> None:
    assert bernstein.bounds(0.0, 0, 0.0, 3.0) == (0.0, 1.0)
