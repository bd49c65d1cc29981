"""Cheap random draws of aggregate counts, so synthetic traffic costs the same at 10 or 100 000 rps.

Exact per-request draws are used for small counts (they are cheap there and the approximations are poor);
large counts use Poisson or normal approximations. Every draw goes through one seeded ``random.Random`` so a
run is reproducible from ``--seed``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist

_EXACT_MAX = 64
_POISSON_EXACT_MAX = 30.0


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw: Knuth's product method for small means, a rounded normal for large ones."""
    if lam <= 0:
        return 0
    if lam < _POISSON_EXACT_MAX:
        limit = math.exp(-lam)
        count = 0
        product = rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        return count
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Binomial draw, exact for small ``n``, Poisson for rare (or near-certain) events, normal otherwise."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if n <= _EXACT_MAX:
        return sum(1 for _ in range(n) if rng.random() < p)
    if n * p < _POISSON_EXACT_MAX:
        return min(n, poisson(rng, n * p))
    if n * (1.0 - p) < _POISSON_EXACT_MAX:
        return n - min(n, poisson(rng, n * (1.0 - p)))
    draw = round(rng.gauss(n * p, math.sqrt(n * p * (1.0 - p))))
    return min(n, max(0, draw))


def multinomial(rng: random.Random, n: int, probs: Sequence[float]) -> list[int]:
    """Split ``n`` draws over categories by sequential conditional binomials."""
    counts = [0] * len(probs)
    remaining = n
    mass_left = 1.0
    for index, prob in enumerate(probs):
        if remaining <= 0:
            break
        if index == len(probs) - 1 or mass_left <= prob:
            counts[index] = remaining
            break
        drawn = binomial(rng, remaining, prob / mass_left)
        counts[index] = drawn
        remaining -= drawn
        mass_left -= prob
    return counts


def clipped_normal_moments(mean: float, sd: float) -> tuple[float, float]:
    """E[X] and E[X^2] of X = clip(N(mean, sd), 0, 1): the true per-response quality distribution."""
    if sd <= 0:
        value = min(1.0, max(0.0, mean))
        return value, value * value
    alpha, beta = (0.0 - mean) / sd, (1.0 - mean) / sd
    unit = NormalDist()
    mass = unit.cdf(beta) - unit.cdf(alpha)
    pdf_alpha, pdf_beta = unit.pdf(alpha), unit.pdf(beta)
    above = 1.0 - unit.cdf(beta)  # clipped to 1.0
    first = mean * mass + sd * (pdf_alpha - pdf_beta) + above
    second = (
        (mean * mean + sd * sd) * mass
        + 2 * mean * sd * (pdf_alpha - pdf_beta)
        + sd * sd * (alpha * pdf_alpha - beta * pdf_beta)
        + above
    )
    return first, second


def clipped_normal(rng: random.Random, mean: float, sd: float) -> float:
    """One per-response quality score."""
    return min(1.0, max(0.0, rng.gauss(mean, sd) if sd > 0 else mean))


def quality_sums(rng: random.Random, count: int, mean: float, sd: float) -> tuple[float, float]:
    """Sum and sum of squares of ``count`` quality scores.

    Large counts draw the sample mean and sample variance instead of each score, then rebuild the sums from
    them; this keeps the pair self-consistent (the variance the judge derives is never negative and every score
    stays within [0, 1]), which independent normal draws of the two sums would not guarantee.
    """
    if count <= 0:
        return 0.0, 0.0
    if count <= _EXACT_MAX:
        scores = [clipped_normal(rng, mean, sd) for _ in range(count)]
        return math.fsum(scores), math.fsum(s * s for s in scores)
    first, second = clipped_normal_moments(mean, sd)
    variance = max(second - first * first, 0.0)
    sample_mean = min(1.0, max(0.0, rng.gauss(first, math.sqrt(variance / count))))
    # Sample variance ~ variance * chi2(k-1)/(k-1), approximately normal for large k.
    sample_var = max(0.0, rng.gauss(variance, variance * math.sqrt(2.0 / (count - 1))))
    sample_var = min(sample_var, sample_mean * (1.0 - sample_mean))  # scores in [0, 1] bound the variance
    total = sample_mean * count
    squares = (count - 1) * sample_var + count * sample_mean * sample_mean
    squares = min(max(squares, total * total / count), total)
    return total, squares
