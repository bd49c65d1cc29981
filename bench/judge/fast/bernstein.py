"""``workflows/judge/bernstein.py``: the empirical-Bernstein mixture's e-values and confidence bounds.

The grid of lambdas and their psi are the source's own tuples; the Newton iteration for the critical excess
runs the same steps with the same stopping rule, so the bounds come out bit for bit the same.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from bench.judge.fast.numerics import py_max, py_min
from workflows.judge import bernstein as source

LAMBDAS = np.asarray(source.LAMBDAS, dtype=np.float64)
PSI = np.asarray(source._PSI, dtype=np.float64)
LOG_SIZE = source._LOG_SIZE
SIZE = len(source.LAMBDAS)
NEWTON_STEPS = 30


@njit(cache=True)
def variance_increment(batch_sum: float, batch_sum_squares: float, batch_count: float, guess: float) -> float:
    """``variance_increment``."""
    return py_max(0.0, batch_sum_squares - 2.0 * guess * batch_sum + batch_count * guess * guess)


@njit(cache=True)
def _best_term(excess: float, variance: float) -> float:
    """The largest of the mixture's log terms, lam * excess - psi(lam) * variance (the source's ``max``)."""
    best = -math.inf
    for k in range(SIZE):
        term = LAMBDAS[k] * excess - PSI[k] * variance
        if k == 0 or term > best:
            best = term
    return best


@njit(cache=True)
def log_e_value_above(excess: float, variance: float) -> float:
    """``log_e_value_above``."""
    best = _best_term(excess, variance)
    total = 0.0
    for k in range(SIZE):
        total += math.exp(LAMBDAS[k] * excess - PSI[k] * variance - best)
    return best + math.log(total) - LOG_SIZE


@njit(cache=True)
def exceeds(excess: float, variance: float, log_threshold: float) -> bool:
    """``exceeds``: the mixture's log e-value reaches ``log_threshold`` (positive), settled cheaply when it can."""
    if excess <= 0.0:
        return False
    if excess * excess < 2.0 * variance * log_threshold:
        return False
    best = _best_term(excess, variance)
    if best < log_threshold:
        return False
    if best - LOG_SIZE >= log_threshold:
        return True
    return log_e_value_above(excess, variance) >= log_threshold


@njit(cache=True)
def critical_excess(variance: float, log_threshold: float) -> float:
    """``_critical_excess``: Newton's method from above onto the excess where the mixture reaches the threshold."""
    target = log_threshold + LOG_SIZE
    excess = 0.0
    for k in range(SIZE):
        candidate = (target + PSI[k] * variance) / LAMBDAS[k]
        if k == 0 or candidate < excess:
            excess = candidate
    for _ in range(NEWTON_STEPS):
        best = _best_term(excess, variance)
        total = 0.0
        slope = 0.0
        for k in range(SIZE):
            weight = math.exp(LAMBDAS[k] * excess - PSI[k] * variance - best)
            total += weight
            slope += LAMBDAS[k] * weight
        step = (best + math.log(total) - target) * total / slope
        excess -= step
        if step <= 1e-6 * (1.0 + abs(excess)):
            break
    return excess


@njit(cache=True)
def bounds(total: float, count: int, variance: float, log_threshold: float) -> tuple[float, float]:
    """``bounds``: anytime-valid (lower, upper) bounds on the mean, each at level exp(-log_threshold)."""
    if count <= 0:
        return 0.0, 1.0
    critical = critical_excess(variance, log_threshold)
    lower = py_min(1.0, py_max(0.0, (total - critical) / count))
    upper = 1.0 - py_min(1.0, py_max(0.0, (count - total - critical) / count))
    return lower, upper
