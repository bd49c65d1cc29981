"""A two-sample test that one version's p95 exceeds a limit on another's (no I/O, no randomness).

The shadow gate compares p95 latencies measured on a few hundred replayed requests. The sample p95 of 400
requests is the 381st-fastest of them, and two replays of the same version differ by 20% on a busy machine, so
comparing the two sample p95s at the limit fails healthy candidates.

The test is Mood's quantile test: stable's latencies are first moved to the limit (``ratio x s``), so
that "candidate p95 <= limit" becomes "the candidate's p95 is no larger than the moved sample's". Both samples
are pooled, the pooled 95th percentile splits them, and a candidate that is slower than the limit puts more than
its share of requests above the split. Given how many requests lie above the split, the candidate's count is
hypergeometric when the two p95s are equal (Fisher's exact test on the 2x2 table), so the p-value needs no model
of latency and no normal approximation. The two versions answer each request at the same moment, so a machine
slowdown lands on both; that positive pairing only makes the independent-samples test conservative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def hypergeometric_upper_tail(population: int, drawn: int, marked: int, observed: int) -> float:
    """P(X >= observed) for X the marked items among ``drawn`` taken from ``population`` holding ``marked``."""
    low, high = max(0, drawn - (population - marked)), min(drawn, marked)
    if observed <= low:
        return 1.0
    if observed > high:
        return 0.0
    denominator = _log_comb(population, drawn)
    terms = [
        _log_comb(marked, k) + _log_comb(population - marked, drawn - k) - denominator
        for k in range(observed, high + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(term - top) for term in terms))


def excess_quantile_p_value(
    candidate: Sequence[float], stable: Sequence[float], *, ratio: float, q: float = 0.95
) -> float:
    """One-sided p-value that the candidate's ``q``-quantile exceeds ``ratio`` x stable's.

    Small when the candidate has more requests above the pooled split than equal quantiles would give.
    """
    if not candidate or not stable:
        return 1.0
    moved = [ratio * value for value in stable]
    pooled = sorted([*candidate, *moved])
    split = pooled[min(len(pooled) - 1, max(0, round(q * (len(pooled) - 1))))]
    above_candidate = sum(1 for value in candidate if value > split)
    above = above_candidate + sum(1 for value in moved if value > split)
    # Of the `above` requests above the split, how many came from the candidate's len(candidate) of the pool.
    return hypergeometric_upper_tail(len(pooled), above, len(candidate), above_candidate)


def smallest_p_value(candidate_requests: int, stable_requests: int, q: float = 0.95) -> float:
    """The smallest p-value the test can give on samples this size: every request above the split a candidate's.

    When even that is not below the gate's alpha, the test cannot fail anything and the caller keeps its
    point comparison.
    """
    population = candidate_requests + stable_requests
    above = population - min(population - 1, max(0, round(q * (population - 1)))) - 1
    return hypergeometric_upper_tail(population, above, candidate_requests, above)
