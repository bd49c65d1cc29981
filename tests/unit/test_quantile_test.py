"""workflows.quantile_test: Mood's quantile test, checked against exact sums and by its error rates."""

from __future__ import annotations

import math
import random

import pytest

from workflows.quantile_test import excess_quantile_p_value, hypergeometric_upper_tail, smallest_p_value


@pytest.mark.parametrize(
    ("population", "drawn", "marked", "observed"), [(10, 3, 4, 2), (40, 4, 20, 4), (800, 40, 400, 25), (50, 5, 10, 0)]
)
def test_hypergeometric_tail_matches_the_exact_sum(population: int, drawn: int, marked: int, observed: int) -> None:
    exact = sum(
        math.comb(marked, k) * math.comb(population - marked, drawn - k)
        for k in range(observed, min(drawn, marked) + 1)
    ) / math.comb(population, drawn)
    assert hypergeometric_upper_tail(population, drawn, marked, observed) == pytest.approx(exact, rel=1e-9)


def test_hypergeometric_tail_edges() -> None:
    assert hypergeometric_upper_tail(10, 3, 4, 5) == 0.0  # more than can be drawn
    assert hypergeometric_upper_tail(10, 8, 4, 2) == 1.0  # at least 2 marked are always among 8 of 10


def _p_values(ratio: float, trials: int, n: int = 400, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    values = []
    for _ in range(trials):
        stable = [rng.lognormvariate(3.0, 0.5) for _ in range(n)]
        candidate = [ratio * rng.lognormvariate(3.0, 0.5) for _ in range(n)]
        values.append(excess_quantile_p_value(candidate, stable, ratio=1.1))
    return values


def test_at_the_limit_the_test_fails_about_as_often_as_its_alpha() -> None:
    # Candidate p95 exactly 1.1x stable's: a failure at 1% is a false one, expected in about 1% of replays.
    values = _p_values(1.1, trials=1000)
    false = sum(value < 0.01 for value in values)
    assert false <= 25  # 10 expected; 25 is over 3 sd beyond
    assert sum(value < 0.5 for value in values) > 250  # and the p-values are not all pinned at 1


def test_a_healthy_candidate_almost_never_fails_and_2x_always_does() -> None:
    assert sum(value < 0.01 for value in _p_values(1.0, trials=300)) <= 3
    assert all(value < 0.01 for value in _p_values(2.0, trials=300))


def test_replays_under_66_requests_cannot_reach_one_percent() -> None:
    assert smallest_p_value(65, 65) >= 0.01 > smallest_p_value(66, 66)
    assert smallest_p_value(400, 400) < 1e-10


def test_empty_samples_give_no_evidence() -> None:
    assert excess_quantile_p_value([], [1.0], ratio=1.1) == 1.0
    assert excess_quantile_p_value([1.0], [], ratio=1.1) == 1.0
