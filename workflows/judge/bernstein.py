"""Anytime-valid confidence bounds for the mean of [0, 1] observations from batched running sums.

Method (Howard, Ramdas, McAuliffe, Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Ann. Statist., Theorem 4 "empirical Bernstein"; Waudby-Smith & Ramdas 2024, "Estimating means of
bounded random variables by betting", JRSS-B, section 3 "predictable plug-in empirical Bernstein"): for
observations X_i in [0, 1] with conditional means mu_i and any predictable guess m_i of X_i,

    M_t(lam) = exp(lam * sum_i (X_i - mu_i) - psi(lam) * V_t),  V_t = sum_i (X_i - m_i)^2,
    psi(lam) = -log(1 - lam) - lam,  lam in [0, 1),

is a non-negative supermartingale (Fan, Grama & Liu 2015, inequality (4.11)). Any average of such processes
over a fixed set of lam is one too, so by Ville's inequality it exceeds 1/alpha with probability at most
alpha, ever. We average over a fixed geometric grid of lam (a discrete mixture: it costs log(grid size) in
the threshold but adapts to the unknown variance and effect size, unlike one tuned lam).

Why this fits the judge: the statistics are the running sum, count and V, all of which providers' counters
give per poll (quality: sum, sum of squares, count; latency: count at or below a bucket edge), so the state is
constant-size; the guess m_i is the mean up to the previous poll, which is predictable because a poll's
values are revealed only after m_i was fixed; the bound covers the average of the conditional means, so it
stays valid when the mean drifts during the day.
"""

from __future__ import annotations

import math

LAMBDAS: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08, 0.15, 0.25, 0.4, 0.6, 0.8)
"""Mixture grid, about a factor 2 apart: small lam suits small effects on long runs, large lam big effects
early. Each point costs log(9) in the threshold; a coarser grid loses more between points than it saves."""

_PSI: tuple[float, ...] = tuple(-math.log1p(-lam) - lam for lam in LAMBDAS)
_LOG_SIZE = math.log(len(LAMBDAS))
_PAIRS = tuple(zip(LAMBDAS, _PSI, strict=True))


def variance_increment(batch_sum: float, batch_sum_squares: float, batch_count: int, guess: float) -> float:
    """Sum over a batch of (X - guess)^2, from the batch's sum, sum of squares and count."""
    return max(0.0, batch_sum_squares - 2.0 * guess * batch_sum + batch_count * guess * guess)


def log_e_value_above(excess: float, variance: float) -> float:
    """Log of the mixture e-value against "the mean is at most mu0", where excess = sum - count * mu0."""
    terms = [lam * excess - psi * variance for lam, psi in _PAIRS]
    best = max(terms)
    return best + math.log(sum([math.exp(term - best) for term in terms])) - _LOG_SIZE


def exceeds(excess: float, variance: float, log_threshold: float) -> bool:
    """``log_e_value_above(excess, variance) >= log_threshold`` for a positive threshold, cheaply.

    The mixture's log lies between its best term minus log(grid size) and its best term, and with no excess
    every term is at most 0; most edges and polls are settled by those bounds without any exponential.
    ``log_threshold`` must be positive (an e-value threshold above 1).
    """
    if excess <= 0.0:
        return False
    # psi(lam) >= lam^2 / 2, so no term exceeds excess^2 / (2 variance).
    if excess * excess < 2.0 * variance * log_threshold:
        return False
    best = max([lam * excess - psi * variance for lam, psi in _PAIRS])
    if best < log_threshold:
        return False
    if best - _LOG_SIZE >= log_threshold:
        return True
    return log_e_value_above(excess, variance) >= log_threshold


def _critical_excess(variance: float, log_threshold: float) -> float:
    """The excess at which the mixture e-value reaches exp(log_threshold).

    The mixture is increasing and log-convex in the excess, so Newton's method started above the root (at the
    best single-lam crossing plus the mixture's log(grid size) cost) descends monotonically onto it; stopping
    early leaves the answer slightly above the root, which only makes the bound more conservative.
    """
    target = log_threshold + _LOG_SIZE
    excess = min([(target + psi * variance) / lam for lam, psi in _PAIRS])
    exp, log = math.exp, math.log
    penalties = [psi * variance for psi in _PSI]
    for _ in range(30):
        terms = [lam * excess - penalty for lam, penalty in zip(LAMBDAS, penalties, strict=True)]
        best = max(terms)
        total = slope = 0.0
        for lam, term in zip(LAMBDAS, terms, strict=True):
            weight = exp(term - best)
            total += weight
            slope += lam * weight
        step = (best + log(total) - target) * total / slope
        excess -= step
        if step <= 1e-6 * (1.0 + abs(excess)):
            break
    return excess


def bounds(total: float, count: int, variance: float, log_threshold: float) -> tuple[float, float]:
    """Anytime-valid (lower, upper) confidence bounds on the mean, each at level exp(-log_threshold).

    Both sides share one root: the upper bound is the lower bound of 1 - X, whose variance sum is the same.
    """
    if count <= 0:
        return 0.0, 1.0
    critical = _critical_excess(variance, log_threshold)
    lower = min(1.0, max(0.0, (total - critical) / count))
    upper = 1.0 - min(1.0, max(0.0, (count - total - critical) / count))
    return lower, upper


def predictable_guess(previous_sum: float, previous_count: int, prior: float) -> float:
    """The guess m_i for a new batch: the mean of earlier batches, or a prior fixed before any data."""
    return previous_sum / previous_count if previous_count > 0 else prior
