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
under r = rho and a supermartingale under any r < rho (each factor's mean is increasing in the true r). A
weighted average of these ratios over a fixed grid of r > rho (the mixture) is therefore an e-process for
"r <= rho": it fails the criterion once it reaches 1 / alpha. Symmetrically the grid below rho gives an
e-process for "r >= rho", which passes it. Because p_t depends on the poll's split q_t, the likelihood has
no conjugate form, so the state keeps the log-likelihood at each grid point: constant size, ~30 floats.
"""

from __future__ import annotations

import math

from workflows.judge.models import ErrorRateTestState

OFFSETS: tuple[float, ...] = (
    -3.0, -2.2, -1.6, -1.2, -0.9, -0.7, -0.55, -0.45, -0.35, -0.25, -0.15, -0.08,
    0.0,
    0.08, 0.15, 0.25, 0.35, 0.45, 0.55, 0.7, 0.9, 1.2, 1.6, 2.2, 3.0,
)  # fmt: skip
"""Grid of log(r / rho), symmetric. Dense where regressions worth catching quickly live (1.1x-2.5x the limit)."""

_SIDE_WEIGHTS: tuple[float, ...] = (0.04, 0.10, 0.15, 0.15, 0.15, 0.12, 0.10, 0.07, 0.05, 0.03, 0.02, 0.02)
"""Mixing weights of the grid points on one side of the limit, nearest first (they sum to 1).

The prior puts most mass on ratios 1.15x-2x the limit: far larger ratios pile up evidence so fast that a
small weight costs them little, and ratios within a few percent of the limit cannot be told apart in a day
anyway. The weights trade speed between effect sizes (tuned on the benchmark's 2x case); validity holds for
any fixed weights, because each component is a supermartingale on its own."""

_NULL = OFFSETS.index(0.0)
WEIGHTS: tuple[float, ...] = (*reversed(_SIDE_WEIGHTS), 0.0, *_SIDE_WEIGHTS)
"""Weight of every grid point; a test against grid ratio r_j mixes the points beyond r_j, renormalised."""
_LOG_WEIGHTS = tuple(math.log(w) if w > 0 else -math.inf for w in WEIGHTS)
_ABOVE = tuple(range(_NULL + 1, len(OFFSETS)))
_BELOW = tuple(range(_NULL))


def new_error_rate_state(limit: float) -> ErrorRateTestState:
    """A fresh test for the ratio limit ``limit`` (the grid is centred on it for the whole step)."""
    return ErrorRateTestState(limit=limit, log_likelihood=[0.0] * len(OFFSETS))


def _log_mixture(log_likelihood: list[float], indices: tuple[int, ...]) -> float:
    """Log of sum_k w_k exp(l_k) over ``indices``, whose weights sum to 1."""
    terms = [log_likelihood[i] + _LOG_WEIGHTS[i] for i in indices]
    best = max(terms)
    if best == -math.inf:
        return -math.inf
    return best + math.log(sum([math.exp(t - best) for t in terms]))


def update(
    state: ErrorRateTestState,
    stable_requests: int,
    stable_errors: int,
    candidate_requests: int,
    candidate_errors: int,
) -> tuple[ErrorRateTestState, float]:
    """Add one poll's increments; also returns the current log e-value against "ratio <= limit".

    A poll without errors carries no information about the ratio.
    """
    total_errors = stable_errors + candidate_errors
    if total_errors <= 0 or stable_requests <= 0 or candidate_requests <= 0:
        if total_errors > 0:
            # All errors necessarily come from the arm that served traffic: no information, and log(0) otherwise.
            state = state.model_copy(update={"skipped_polls": state.skipped_polls + 1})
        return state, log_e_values(state.log_likelihood)[0]
    base = math.log(state.limit) + math.log(candidate_requests / stable_requests)
    exp, log1p = math.exp, math.log1p
    poll = []
    for offset in OFFSETS:
        log_rq = base + offset
        # x log p + (E - x) log(1 - p) with p = rq / (1 + rq); softplus keeps it stable for extreme rq.
        softplus = log_rq + log1p(exp(-log_rq)) if log_rq > 0 else log1p(exp(log_rq))
        poll.append(candidate_errors * log_rq - total_errors * softplus)
    null = poll[_NULL]
    log_likelihood = [old + new - null for old, new in zip(state.log_likelihood, poll, strict=True)]
    log_e_fail, log_e_pass = log_e_values(log_likelihood)
    next_state = ErrorRateTestState(
        limit=state.limit,
        log_likelihood=log_likelihood,
        max_log_e_fail=max(state.max_log_e_fail, log_e_fail),
        max_log_e_pass=max(state.max_log_e_pass, log_e_pass),
        skipped_polls=state.skipped_polls,
    )
    return next_state, log_e_fail


def log_e_values(log_likelihood: list[float]) -> tuple[float, float]:
    """Current log e-values against "ratio <= limit" (fail) and against "ratio >= limit" (pass)."""
    return (
        _log_mixture(log_likelihood, _ABOVE),
        _log_mixture(log_likelihood, _BELOW),
    )


def confidence_bounds(state: ErrorRateTestState, log_threshold: float) -> tuple[float | None, float | None]:
    """Anytime-valid bounds on the ratio at grid resolution (None: not bounded yet on that side).

    Each grid ratio r_j is tested with the same kind of mixture (grid points above r_j for the lower bound,
    below for the upper, with their weights renormalised; at the limit this is the decision's own test). The
    bound steps from the edge of the grid inward and stops at the first ratio not rejected, so coverage needs
    only the true ratio's own test to hold (no multiple-testing inflation).
    """
    values = state.log_likelihood
    size = len(values)
    # Sums of exp(values[k]) above and below every j, scaled by exp(-top) so nothing overflows.
    top = max(values)
    exp, log = math.exp, math.log
    scaled = [w * exp(value - top) for w, value in zip(_BOUND_WEIGHTS, values, strict=True)]
    # Running sums, shrunk as the scan moves inward. Until the scan reaches the likelihood's peak the sum still
    # holds the peak's term, so rounding is negligible; at the peak the test fails by a margin of the whole
    # threshold (the sum is at most its weight there), so rounding cannot change a bound.
    lower: float | None = None
    above = sum(scaled[1:])
    above_weight = _BOUND_WEIGHT_TOTAL - _BOUND_WEIGHTS[0]
    for j in range(size - 1):
        if above <= 0.0 or log(above / above_weight) + top - values[j] < log_threshold:
            break
        lower = state.limit * exp(OFFSETS[j])
        above -= scaled[j + 1]
        above_weight -= _BOUND_WEIGHTS[j + 1]
    upper: float | None = None
    below = sum(scaled[:-1])
    below_weight = _BOUND_WEIGHT_TOTAL - _BOUND_WEIGHTS[-1]
    for j in range(size - 1, 0, -1):
        if below <= 0.0 or log(below / below_weight) + top - values[j] < log_threshold:
            break
        upper = state.limit * exp(OFFSETS[j])
        below -= scaled[j - 1]
        below_weight -= _BOUND_WEIGHTS[j - 1]
    return lower, upper


_BOUND_WEIGHTS: tuple[float, ...] = (*reversed(_SIDE_WEIGHTS), max(_SIDE_WEIGHTS), *_SIDE_WEIGHTS)
"""Weights for the bounds: the decision's, plus one for the limit itself (an alternative when r_j != rho)."""
_BOUND_WEIGHT_TOTAL = sum(_BOUND_WEIGHTS)
