"""workflows.quantile_bounds: distribution-free p95 bounds, checked against the binomial and by coverage."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from workflows.quantile_bounds import binomial_cdf, quantile_bounds


@pytest.mark.parametrize(("n", "p"), [(1, 0.5), (10, 0.95), (50, 0.3), (400, 0.95)])
def test_binomial_cdf_matches_the_exact_sum(n: int, p: float) -> None:
    cdf = binomial_cdf(n, p)
    running = 0.0
    for k in range(n + 1):
        running += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        assert cdf[k] == pytest.approx(running, abs=1e-9)
    assert cdf[-1] == pytest.approx(1.0)


def test_bounds_are_the_order_statistics_the_binomial_names() -> None:
    ordered = [float(value) for value in range(400)]
    low, high = quantile_bounds(ordered, 0.95, 0.005)
    assert low is not None and high is not None
    cdf = binomial_cdf(400, 0.95)
    k, j = int(low) + 1, int(high) + 1  # 1-based ranks
    assert cdf[k - 1] <= 0.005 < cdf[k]  # the largest rank whose P(Bin >= k) is at least 99.5%
    assert cdf[j - 2] < 0.995 <= cdf[j - 1]  # the smallest rank whose P(Bin <= j - 1) is at least 99.5%
    assert low < 380 < high  # around the sample p95 (rank 381)


@pytest.mark.parametrize(("n", "has_high"), [(20, False), (103, False), (104, True), (1000, True)])
def test_small_samples_give_no_upper_bound(n: int, has_high: bool) -> None:
    low, high = quantile_bounds([float(v) for v in range(n)], 0.95, 0.005)
    assert low is not None
    assert (high is not None) is has_high


def test_empty_sample_and_bad_arguments() -> None:
    assert quantile_bounds([], 0.95, 0.005) == (None, None)
    with pytest.raises(ValueError, match=r"q=1\.5"):
        quantile_bounds([1.0], 1.5, 0.005)


@pytest.mark.parametrize("distribution", ["uniform", "lognormal", "pareto"])
def test_each_bound_misses_the_true_p95_at_most_as_often_as_alpha_says(distribution: str) -> None:
    # True p95s: uniform 0.95; lognormal(0, 0.5) exp(0.5 x 1.6449); pareto(2.5) 0.05 ** (-1 / 2.5).
    truth = {"uniform": 0.95, "lognormal": math.exp(0.5 * 1.6448536), "pareto": 0.05 ** (-1 / 2.5)}[distribution]
    draws: dict[str, Callable[[random.Random], float]] = {
        "uniform": lambda r: r.random(),
        "lognormal": lambda r: r.lognormvariate(0.0, 0.5),
        "pareto": lambda r: r.paretovariate(2.5),
    }
    draw = draws[distribution]
    rng = random.Random(19)
    trials, alpha = 2000, 0.01
    low_misses = high_misses = 0
    for _ in range(trials):
        sample = sorted(draw(rng) for _ in range(200))
        low, high = quantile_bounds(sample, 0.95, alpha)
        assert low is not None and high is not None
        low_misses += low > truth
        high_misses += high < truth
    # Each bound is exact-or-conservative at 1%: about 20 misses in 2,000 expected; 35 is over 3 sd beyond.
    assert low_misses <= 35
    assert high_misses <= 35
    assert low_misses + high_misses > 0  # the bounds are not vacuous either
