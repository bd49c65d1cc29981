"""Sequential test of "candidate error rate <= limit x stable error rate" from per-poll counts.

Method: a conditional, mixture likelihood-ratio e-process (Lindon, Sanden & Shirikian 2022, "Rapid regression
detection in software deployments through sequential testing", KDD, and Netflix's "Sequential A/B testing
keeps the world streaming" parts 1-2: counts modelled as Poisson processes, tested by conditioning on the
total; Lindon & Malek 2022, "Anytime-valid inference for multinomial count data", NeurIPS, for the mixture
over the alternative; Ramdas et al. 2023 "Game-theoretic statistics and safe anytime-valid inference" for
why a supermartingale gives a test that holds however often one looks).

Model. In poll t, stable serves n_s requests and candidate n_c; errors arrive at rates lam_t * n_s and
r * lam_t * n_c, where lam_t may change arbitrarily from poll to poll (an incident, the daily cycle) but hits
both versions alike, and r is the rate ratio. Given the poll's total errors E_t, the candidate's share is

    x_t ~ Binomial(E_t, p_t(r)),  p_t(r) = r * q_t / (1 + r * q_t),  q_t = n_c / n_s,

which no longer involves lam_t: conditioning removes the shared nuisance, so an incident on both versions or
a traffic split that drifts between polls does not look like a regression. (With per-request Bernoulli errors
the exact conditional law is Fisher's noncentral hypergeometric; at error rates of a few percent and a small
canary the binomial is an excellent approximation.)

Test. For the limit rho, the likelihood ratio of r against rho, multiplied over polls, is a test martingale
under r = rho and a supermartingale under any r < rho (each factor's mean is increasing in the true r). The
average of these ratios over a fixed grid of r > rho (the mixture) is therefore an e-process for
"r <= rho": it fails the criterion once it reaches 1 / alpha. Symmetrically the grid below rho gives an
e-process for "r >= rho", which passes it. Because p_t depends on the poll's split q_t, the likelihood has
no conjugate form, so the state keeps the log-likelihood at each grid point: constant size, ~30 floats.
"""

from __future__ import annotations

import math

from workflows.judge.models import ErrorRateTestState

OFFSETS: tuple[float, ...] = (
    -3.0, -2.2, -1.6, -1.2, -0.9, -0.7, -0.5, -0.35, -0.25, -0.15, -0.08,
    0.0,
    0.08, 0.15, 0.25, 0.35, 0.45, 0.55, 0.7, 0.9, 1.2, 1.6, 2.2, 3.0,
)  # fmt: skip
"""Grid of log(r / rho). Dense where regressions worth catching quickly live (1.3x-3x the limit)."""

_NULL = OFFSETS.index(0.0)
_ABOVE = tuple(range(_NULL + 1, len(OFFSETS)))
_BELOW = tuple(range(_NULL))


def new_error_rate_state(limit: float) -> ErrorRateTestState:
    """A fresh test for the ratio limit ``limit`` (the grid is centred on it for the whole step)."""
    return ErrorRateTestState(limit=limit, log_likelihood=[0.0] * len(OFFSETS))


def _log_mean_exp(values: list[float]) -> float:
    best = max(values)
    if best == -math.inf:
        return -math.inf
    return best + math.log(math.fsum(math.exp(v - best) for v in values)) - math.log(len(values))


def update(
    state: ErrorRateTestState,
    stable_requests: int,
    stable_errors: int,
    candidate_requests: int,
    candidate_errors: int,
) -> ErrorRateTestState:
    """Add one poll's increments. A poll without errors carries no information about the ratio."""
    total_errors = stable_errors + candidate_errors
    if total_errors <= 0:
        return state
    if stable_requests <= 0 or candidate_requests <= 0:
        # All errors necessarily come from the arm that served traffic: no information, and log(0) otherwise.
        return state.model_copy(update={"skipped_polls": state.skipped_polls + 1})
    log_q = math.log(candidate_requests / stable_requests)
    log_limit = math.log(state.limit)
    log_l = []
    for offset in OFFSETS:
        log_rq = log_limit + offset + log_q
        # x log p + (E - x) log(1 - p) with p = rq / (1 + rq); softplus keeps it stable for extreme rq.
        softplus = log_rq + math.log1p(math.exp(-log_rq)) if log_rq > 0 else math.log1p(math.exp(log_rq))
        log_l.append(candidate_errors * log_rq - total_errors * softplus)
    null = log_l[_NULL]
    log_likelihood = [old + new - null for old, new in zip(state.log_likelihood, log_l, strict=True)]
    log_e_fail, log_e_pass = log_e_values(log_likelihood)
    return state.model_copy(
        update={
            "log_likelihood": log_likelihood,
            "max_log_e_fail": max(state.max_log_e_fail, log_e_fail),
            "max_log_e_pass": max(state.max_log_e_pass, log_e_pass),
        }
    )


def log_e_values(log_likelihood: list[float]) -> tuple[float, float]:
    """Current log e-values against "ratio <= limit" (fail) and against "ratio >= limit" (pass)."""
    return (
        _log_mean_exp([log_likelihood[i] for i in _ABOVE]),
        _log_mean_exp([log_likelihood[i] for i in _BELOW]),
    )


def confidence_bounds(state: ErrorRateTestState, log_threshold: float) -> tuple[float | None, float | None]:
    """Anytime-valid bounds on the ratio at grid resolution (None: not bounded yet on that side).

    Each grid ratio r_j is tested with the same kind of mixture (grid points above r_j for the lower bound,
    below for the upper). The bound steps from the edge of the grid inward and stops at the first ratio not
    rejected, so coverage needs only the true ratio's own test to hold (no multiple-testing inflation).
    """
    values = state.log_likelihood
    size = len(values)
    # Sums of exp(values[k]) above and below every j, scaled by exp(-top) so nothing overflows.
    top = max(values)
    scaled = [math.exp(value - top) for value in values]
    above = [0.0] * size
    for j in range(size - 2, -1, -1):
        above[j] = above[j + 1] + scaled[j + 1]
    below = [0.0] * size
    for j in range(1, size):
        below[j] = below[j - 1] + scaled[j - 1]
    lower: float | None = None
    for j in range(size - 1):
        if above[j] <= 0.0 or math.log(above[j] / (size - 1 - j)) + top - values[j] < log_threshold:
            break
        lower = state.limit * math.exp(OFFSETS[j])
    upper: float | None = None
    for j in range(size - 1, 0, -1):
        if below[j] <= 0.0 or math.log(below[j] / j) + top - values[j] < log_threshold:
            break
        upper = state.limit * math.exp(OFFSETS[j])
    return lower, upper
