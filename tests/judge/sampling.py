"""Small, seeded samplers for the statistical tests (Python 3.11 has no ``random.binomialvariate``)."""

from __future__ import annotations

import math
import random


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Binomial(n, p): exact inversion for small means, a rounded normal approximation for large ones."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    mean = n * p
    if mean > 60 and n * (1 - p) > 60:
        return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))
    u = rng.random()
    probability = (1.0 - p) ** n
    cumulative = probability
    k = 0
    odds = p / (1.0 - p)
    while u > cumulative and k < n:
        probability *= (n - k) / (k + 1) * odds
        k += 1
        cumulative += probability
    return k
