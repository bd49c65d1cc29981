"""Python's own float semantics, where numba's differ or a compiler could: the port's results must match bit for bit.

* ``py_max`` / ``py_min``: the builtins on two values (the first kept on a tie, as ``max(a, b)`` does).
* ``py_sum``: ``sum()`` of floats on Python 3.11, a plain left-to-right addition (3.12 compensates).
* ``fsum``: ``math.fsum``'s exactly rounded sum (Shewchuk's partials and CPython's final half-even correction);
  the counters of several series are summed with it.
* ``py_square``: ``x ** 2`` on a float calls the C library's ``pow``, which is not always ``x * x`` (about 1 in
  1,000 results differ in the last bit). numba turns ``x ** 2`` and ``math.pow(x, 2.0)`` into ``x * x``; with the
  exponent a runtime value (``TWO``, passed in by the caller) it has to call ``pow`` itself.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from bench.judge.fast.layout import FloatVector

TWO = np.float64(2.0)
"""The exponent of ``py_square``, passed into the compiled run at runtime so that no compiler folds it."""


@njit(cache=True)
def py_max(a: float, b: float) -> float:
    return b if b > a else a


@njit(cache=True)
def py_min(a: float, b: float) -> float:
    return b if b < a else a


@njit(cache=True)
def py_square(x: float, two: float) -> float:
    return math.pow(x, two)


@njit(cache=True)
def log_sum_exp_shifted(terms: FloatVector, count: int) -> float:
    """``best + log(sum([exp(t - best) for t in terms]))`` over ``terms[:count]``, -inf when every term is -inf.

    The shape every mixture of the judge takes (error_rate._log_mixture, _log_late, log_e_beyond,
    bernstein.log_e_value_above): the first maximum, then the exponentials added left to right.
    """
    best = terms[0]
    for i in range(1, count):
        if terms[i] > best:
            best = terms[i]
    if best == -math.inf:
        return -math.inf
    total = 0.0
    for i in range(count):
        total += math.exp(terms[i] - best)
    return float(best + math.log(total))


@njit(cache=True)
def fsum(values: FloatVector, count: int, partials: FloatVector) -> float:
    """``math.fsum(values[:count])`` for finite values; ``partials`` is scratch space of at least count + 1."""
    used = 0
    for k in range(count):
        x = values[k]
        i = 0
        for j in range(used):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        used = i
        if x != 0.0:
            partials[used] = x
            used += 1
    hi = 0.0
    lo = 0.0
    if used > 0:
        used -= 1
        hi = partials[used]
        while used > 0:
            x = hi
            used -= 1
            y = partials[used]
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                break
        if used > 0 and ((lo < 0.0 and partials[used - 1] < 0.0) or (lo > 0.0 and partials[used - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            if y == x - hi:
                hi = x
    return float(hi)
