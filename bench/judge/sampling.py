"""Fast seeded draws for the traffic simulation (pure Python: Python 3.11 has no binomialvariate).

Counts are drawn per minute or per poll, never per request: exact inversion where the mean is small (the
canary's errors, where the tail matters), a rounded normal approximation where it is large (stable's requests
and errors, whose relative noise is tiny).
"""

from __future__ import annotations

import math
import random

_NORMAL_ABOVE = 40.0
"""Mean above which the normal approximation replaces exact inversion."""


def binomial(rng: random.Random, n: int, p: float, normal_above: float = _NORMAL_ABOVE) -> int:
    """One Binomial(n, p) draw; ``normal_above`` is the mean from which the normal approximation is used."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    mean = n * p
    if mean > normal_above and n - mean > normal_above:
        return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1.0 - p))))))
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p, normal_above)
    u = rng.random()
    probability = math.exp(n * math.log1p(-p))
    cumulative = probability
    k = 0
    odds = p / (1.0 - p)
    while u > cumulative and k < n:
        probability *= (n - k) / (k + 1) * odds
        k += 1
        cumulative += probability
    return k


def poisson_large(rng: random.Random, mean: float) -> int:
    """A Poisson draw for large means (requests per minute), by the normal approximation."""
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def multinomial_cumulative(rng: random.Random, n: int, conditional: tuple[float, ...]) -> list[int]:
    """Cumulative bucket counts of n draws, given P(bucket i | not in buckets < i) for each bucket.

    Bucket counts only feed quantiles, so a looser normal approximation (mean above 15) is fine here.
    """
    counts: list[int] = []
    left = n
    cumulative = 0
    gauss = rng.gauss
    for share in conditional:
        if left == 0:
            counts.extend([cumulative] * (len(conditional) - len(counts)))
            break
        mean = left * share
        if mean > 15.0 and left - mean > 15.0:
            drawn = min(left, max(0, round(gauss(mean, math.sqrt(mean * (1.0 - share))))))
        else:
            drawn = binomial(rng, left, share, 15.0)
        left -= drawn
        cumulative += drawn
        counts.append(cumulative)
    return counts
