"""Aggregate draws behind the synthetic traffic, and the shared latency bucket layout."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from simulator.buckets import LATENCY_BOUNDS_MS, bucket_index, bucket_probabilities
from simulator.sampling import binomial, clipped_normal_moments, multinomial, poisson, quality_sums


@pytest.mark.parametrize(("n", "p"), [(10, 0.3), (1000, 0.01), (1000, 0.995), (100_000, 0.2)])
def test_binomial_mean_and_spread(n: int, p: float) -> None:
    rng = random.Random(1)
    draws = [binomial(rng, n, p) for _ in range(2000)]
    assert all(0 <= d <= n for d in draws)
    assert statistics.fmean(draws) == pytest.approx(n * p, rel=0.05, abs=0.3)
    assert statistics.pstdev(draws) == pytest.approx(math.sqrt(n * p * (1 - p)), rel=0.15)


@pytest.mark.parametrize("lam", [0.5, 12.0, 5000.0])
def test_poisson_mean(lam: float) -> None:
    rng = random.Random(2)
    assert statistics.fmean(poisson(rng, lam) for _ in range(3000)) == pytest.approx(lam, rel=0.05)


def test_multinomial_conserves_the_total() -> None:
    rng = random.Random(3)
    probs = bucket_probabilities(120, 300)
    for n in (0, 1, 63, 65, 10_000, 3_000_000):
        assert sum(multinomial(rng, n, probs)) == n


def test_quality_sums_are_self_consistent() -> None:
    rng = random.Random(4)
    expected_mean, _ = clipped_normal_moments(0.95, 0.2)
    for count in (1, 10, 64, 65, 1000, 1_000_000):
        total, squares = quality_sums(rng, count, 0.95, 0.2)
        assert 0 <= total <= count
        assert total * total / count - 1e-9 <= squares <= total + 1e-9  # variance >= 0, scores <= 1
    total, _ = quality_sums(rng, 1_000_000, 0.95, 0.2)
    assert total / 1_000_000 == pytest.approx(expected_mean, abs=0.001)
    assert expected_mean < 0.95  # clipping at 1 pulls the mean down


def test_bucket_layout_resolves_a_ten_percent_ratio() -> None:
    assert len(LATENCY_BOUNDS_MS) <= 100
    assert math.isinf(LATENCY_BOUNDS_MS[-1])
    assert LATENCY_BOUNDS_MS[0] == 5.0
    fine = [b for b in LATENCY_BOUNDS_MS if b <= 4000]
    assert all(1.07 < hi / lo < 1.08 for lo, hi in itertools.pairwise(fine))
    assert bucket_index(5.0) == 0
    assert bucket_index(5.01) == 1
    assert bucket_index(1e9) == len(LATENCY_BOUNDS_MS) - 1
    assert sum(bucket_probabilities(20, 50)) == pytest.approx(1.0)
