"""Evidence for the hard error-rate trigger: a breach must be more than a handful of unlucky requests.

A point ratio over a few hundred requests is mostly noise: at a 1% error rate, 6 candidate errors against 3
expected already read as "2x". The trigger stays immediate, but under the sequential method it also asks for a
one-sided conditional binomial test (the classic comparison of two Poisson rates, given the total number of
errors) to reject "candidate rate <= trigger x stable rate" at ``TRIGGER_ALPHA``. The criteria, not the
trigger, carry the anytime-valid guarantee; the trigger's small alpha keeps it from undoing that guarantee.
"""

from __future__ import annotations

import math

TRIGGER_ALPHA = 1e-3
_EXACT_LIMIT = 2_000


def binomial_upper_tail(successes: int, trials: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p): exact in log space, normal approximation past 2,000."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    if trials > _EXACT_LIMIT:
        mean, sd = trials * p, math.sqrt(trials * p * (1 - p))
        z = (successes - 0.5 - mean) / sd
        return 0.5 * math.erfc(z / math.sqrt(2))
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1) + k * log_p + (trials - k) * log_q
        for k in range(successes, trials + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def excess_error_p_value(
    stable_errors: int, stable_requests: int, candidate_errors: int, candidate_requests: int, ratio: float
) -> float:
    """One-sided p-value of "candidate error rate > ratio x stable's", given both arms' requests and errors."""
    if stable_requests <= 0 or candidate_requests <= 0:
        return 1.0
    share = ratio * candidate_requests / (ratio * candidate_requests + stable_requests)
    return binomial_upper_tail(candidate_errors, stable_errors + candidate_errors, share)
