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


# --- The whole-rollout test: dispersion-aware, with a late-onset detector -------------------------------------

WOBBLE_PRIOR = 0.05
"""Prior of kappa, the squared relative wobble of the split beyond binomial (both versions' rates varying by
about 16 % from poll to poll, independently, give 2 x 0.16^2 = 0.05). Assumed until polls show otherwise,
because the first polls of a step are where a burst would otherwise pass for a regression."""
WOBBLE_PRIOR_POLLS = 6.0
"""How many polls the prior weighs against the observed ones (30 minutes at the default cadence)."""
DISPERSION_MAX = 1000.0
"""Cap on the dispersion factor (it only ever discounts evidence)."""


def dispersion(state: ErrorRateTestState, variance: float) -> float:
    """Quasi-likelihood dispersion factor phi >= 1 for a poll whose binomial variance is ``variance``.

    Variance function (McCullagh & Nelder 1989, ch. 9, the beta-binomial's): when each version's error rate
    wobbles independently from poll to poll by a relative sd d, the candidate's share of a poll's E errors has
    variance v (1 + kappa v), v = E p (1 - p), kappa = 2 d^2, so phi = 1 + kappa v grows with the poll's errors:
    big canaries see much more overdispersion than small ones. kappa is estimated from earlier polls only
    (predictable): sum(Pearson - 1) / sum(v), shrunk towards the prior. Dividing a poll's log-likelihood ratios
    by phi >= 1 keeps the test valid on binomial traffic too (Jensen: E[L^(1/phi)] <= E[L]^(1/phi) <= 1).
    """
    polls = state.pearson_polls
    mean_variance = state.variance_sum / polls if polls else variance
    prior = WOBBLE_PRIOR_POLLS * mean_variance
    kappa = max(0.0, (WOBBLE_PRIOR * prior + state.pearson_sum - polls) / (prior + state.variance_sum))
    return min(DISPERSION_MAX, 1.0 + kappa * variance)


WOBBLE_CEILING = 0.18
"""Issue 19's judge (``robust``): kappa assumed until the polls show otherwise, for both versions' error rates
wobbling independently by 30 % per poll (2 x 0.3^2): the ceiling a service is expected to stay under, not a
typical value, so a wobble up to it is never read as a regression early in the rollout."""
CEILING_PRIOR_POLLS = 1.0
"""How many polls the ceiling weighs against the observed ones (5 minutes at the default cadence): enough to
hold the first polls of a rollout to the ceiling, little enough that binomial traffic earns its speed back
within half an hour."""
KAPPA_UCB_Z = 0.5
"""The dispersion used is an upper confidence bound on kappa (about 84 % one-sided): an estimate that happens
to come out low must not let the next polls count as binomial."""
POLL_CAP_NATS = 2.5
"""Most evidence (nats, after the dispersion discount) one poll may add at any grid ratio. Clipping a
likelihood ratio from above keeps a supermartingale one (E[min(L, c)] <= E[L]), so the tests stay valid; it
stops a single bursty poll from deciding: the late-onset detector (threshold about 12 nats) needs five."""


def robust_kappa(state: ErrorRateTestState, variance: float, margin_scale: float = 1.0) -> float:
    """Issue 19's judge: an upper confidence bound on kappa, shrunk toward the ceiling.

    Same variance function as ``dispersion``. kappa's estimate is the Pearson excess of earlier polls over their
    binomial variance, with the ceiling worth ``CEILING_PRIOR_POLLS`` polls; its standard error follows from the
    model itself (a poll's Pearson statistic is a scaled chi-square with one degree of freedom, variance
    2 (1 + kappa v)^2), evaluated at the estimate. Predictable: only earlier polls are used. ``margin_scale``
    multiplies the confidence margin (1 for this judge; ``detection_kappa`` for the second one).
    """
    polls = state.pearson_polls
    mean_variance = state.variance_sum / polls if polls else variance
    prior = CEILING_PRIOR_POLLS * mean_variance
    weight = prior + state.variance_sum
    estimate = max(0.0, (WOBBLE_CEILING * prior + state.pearson_sum - polls) / weight)
    spread_sum = polls + 2.0 * estimate * state.variance_sum + estimate * estimate * state.variance_square_sum
    return estimate + margin_scale * KAPPA_UCB_Z * math.sqrt(2.0 * spread_sum) / weight


SMALL_POLL_VARIANCE = 30.0
"""Issue 19's second judge (``JudgeState.detection``): the binomial variance of the split (errors x share x
(1 - share)) below which a poll's kappa bound is taken nearer its estimate: about 30 candidate errors a poll at a
small canary. A 5 % canary at 2 % errors (variance about 33 at the daily mean) keeps the full bound but at the
trough of its day, and larger canaries keep it throughout."""


def detection_kappa(state: ErrorRateTestState, variance: float) -> float:
    """The second judge's kappa: ``robust_kappa``'s estimate, its confidence margin scaled by min(1, v / V0).

    Why the margin may shrink at small v. The bound is there so that an estimate that came out low does not let
    the next poll count as binomial; what a low estimate costs is the dispersion factor 1 + kappa v being too
    small by (error of kappa) x v, and the excess growth of the e-value it allows per poll is of that order times
    the poll's own information, which is itself proportional to v. The margin in kappa, z x se, has an se that
    grows like 1 / v (a poll with few errors says little about kappa), so without scaling its effect on phi,
    z sqrt(2 / n), is the same at 3 errors a poll as at 300, and at 3 it costs a 1 % canary a quarter of its
    evidence for a risk that is a few percent of it. The ceiling prior and the estimate are kept whole, so a
    service that wobbles is still discounted by all of its measured wobble.
    """
    return robust_kappa(state, variance, margin_scale=min(1.0, variance / SMALL_POLL_VARIANCE))


def score_kappa(state: ErrorRateTestState, variance: float, margin_scale: float = 1.0) -> float:
    """Issue 19's third judge: ``robust_kappa``'s bound with the standard error taken at the bound itself.

    ``robust_kappa`` evaluates kappa's standard error at the estimate. A poll's Pearson statistic has variance
    2 (1 + kappa v)^2, so when the first polls of a step happen to come out calm the estimate is low, its standard
    error with it, and the bound barely rises above the estimate: the bound collapses exactly where it is needed
    (Wilson's interval for a proportion fixes the same fault in the Wald interval). Here kappa_u solves
    kappa_u = estimate + z sqrt(2 spread(kappa_u)) / weight, spread(k) = n + 2 k sum(v) + k^2 sum(v^2): a quadratic
    in kappa_u, its larger root. Binomial traffic (estimate near 0) pays little; wobbling traffic whose estimate
    came out low is bounded about estimate / (1 - z sqrt(2 / n)) until the polls pin it down.
    """
    polls = state.pearson_polls
    mean_variance = state.variance_sum / polls if polls else variance
    prior = CEILING_PRIOR_POLLS * mean_variance
    weight = prior + state.variance_sum
    estimate = max(0.0, (WOBBLE_CEILING * prior + state.pearson_sum - polls) / weight)
    c2 = 2.0 * (margin_scale * SCORE_Z) ** 2
    a = weight * weight - c2 * state.variance_square_sum
    if a <= 0.0:
        return KAPPA_MAX
    b = estimate * weight * weight + c2 * state.variance_sum
    c = estimate * estimate * weight * weight - c2 * polls
    return min(KAPPA_MAX, (b + math.sqrt(max(0.0, b * b - a * c))) / a)


SCORE_Z = 0.5
"""z of the third judge's score bound on kappa (``score_kappa``), as ``KAPPA_UCB_Z``."""
TILT_Z = 0.8
"""Issue 19's third judge: z of the kappa bound the fail side tilts the limit's split by, at polls of at least
``SMALL_POLL_VARIANCE`` (a small poll keeps the dispersion's bound)."""
LARGE_POLL_CAP_NATS = 2.0
"""Issue 19's third judge: the clip per poll at polls of at least ``SMALL_POLL_VARIANCE`` (``POLL_CAP_NATS`` below)."""
KAPPA_MAX = 4.0
"""Largest kappa the score bound returns (a 140 % relative wobble per version; phi is capped anyway)."""


def robust_dispersion(state: ErrorRateTestState, variance: float) -> float:
    """The dispersion factor 1 + kappa v at ``robust_kappa``'s upper bound."""
    return min(DISPERSION_MAX, 1.0 + robust_kappa(state, variance) * variance)


LEVERAGE_CAP = 0.2
"""Largest leverage counted in the correction of Pearson's statistic (only a rollout's first polls reach it, where
the local and the overall fit are nearly the same and the correction is near 1)."""
RECENT_DECAY = 0.9
"""Issue 19's second judge: per-poll decay of the weights of the local ratio Pearson's statistic is measured
against (about the last 10 polls, 50 minutes)."""


def _decayed(
    recent: tuple[tuple[float, float], tuple[float, float]], requests: tuple[int, int], errors: tuple[int, int]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The exponentially weighted (requests, errors) sums after one more poll."""
    (stable_n, candidate_n), (stable_e, candidate_e) = recent
    decay = RECENT_DECAY
    return (
        (decay * stable_n + requests[0], decay * candidate_n + requests[1]),
        (decay * stable_e + errors[0], decay * candidate_e + errors[1]),
    )


def _estimated_ratio(
    requests_sum: tuple[int, int] | tuple[float, float], errors_sum: tuple[int, int] | tuple[float, float]
) -> float:
    """The candidate/stable error-rate ratio of the informative polls so far, each side shrunk by one error.

    The shrinkage keeps the first polls' estimate near 1 (a poll without candidate errors would otherwise put
    it at 0, and make the next poll's Pearson statistic explode).
    """
    stable_requests, candidate_requests = requests_sum
    stable_errors, candidate_errors = errors_sum
    if stable_requests <= 0 or candidate_requests <= 0:
        return 1.0
    return ((candidate_errors + 1.0) / candidate_requests) / ((stable_errors + 1.0) / stable_requests)


def _poll_evidence(
    base: float, candidate_errors: int, total_errors: int, phi: float, robust: bool, cap: float = POLL_CAP_NATS
) -> list[float]:
    """One poll's log-likelihood ratios at every grid ratio against the limit's log split ``base``.

    Discounted by the dispersion ``phi`` and, for the robust judges, clipped at ``POLL_CAP_NATS``.
    """
    exp, log1p = math.exp, math.log1p
    poll = []
    for offset in OFFSETS:
        log_rq = base + offset
        softplus = log_rq + log1p(exp(-log_rq)) if log_rq > 0 else log1p(exp(log_rq))
        poll.append(candidate_errors * log_rq - total_errors * softplus)
    null = poll[_NULL]
    poll = [(value - null) / phi for value in poll]
    if robust:
        poll = [min(cap, value) for value in poll]
    return poll


def update_whole(
    state: ErrorRateTestState,
    stable_requests: int,
    stable_errors: int,
    candidate_requests: int,
    candidate_errors: int,
    *,
    horizon: int,
    robust: bool = False,
    detection: bool = False,
    third: bool = False,
) -> ErrorRateTestState:
    """Add one poll to the whole-rollout test.

    Differences from ``update``: every poll's log-likelihood ratios are divided by the predictable dispersion
    factor, and a Shiryaev-Roberts e-detector (a new mixture started at each of the first ``horizon``
    informative polls, all summed) finds a regression that starts late, after hours of healthy evidence the
    mixture started at the beginning would first have to climb out of.

    ``robust`` (issue 19's judge): the dispersion is ``robust_dispersion``, each poll's evidence is clipped at
    ``POLL_CAP_NATS``, and the step's own log-likelihood (``step_log_likelihood``) is kept for the pass.
    ``third`` (issue 19's third judge, with ``detection``): kappa from ``score_kappa``; at polls of at least
    ``SMALL_POLL_VARIANCE`` the tilt from the bound at ``TILT_Z`` and the clip at ``LARGE_POLL_CAP_NATS``; the
    late-onset detector's restarts weighted by ``late_start_log_weight``.
    """
    total_errors = stable_errors + candidate_errors
    late = state.late_log_e or [-math.inf] * len(_ABOVE)
    if total_errors <= 0 or stable_requests <= 0 or candidate_requests <= 0:
        if total_errors > 0:
            return state.model_copy(update={"skipped_polls": state.skipped_polls + 1, "late_log_e": late})
        return state if state.late_log_e else state.model_copy(update={"late_log_e": late})
    split = candidate_requests / stable_requests
    # The poll's share at the ratio estimated before it (predictable, like phi), for phi and Pearson's statistic.
    rq = _estimated_ratio(state.requests_sum, state.errors_sum) * split
    share = rq / (1.0 + rq)
    variance = total_errors * share * (1.0 - share)
    if third:
        kappa = score_kappa(state, variance, margin_scale=min(1.0, variance / SMALL_POLL_VARIANCE))
        phi = min(DISPERSION_MAX, 1.0 + kappa * variance)
    elif robust:
        kappa = detection_kappa(state, variance) if detection else robust_kappa(state, variance)
        phi = min(DISPERSION_MAX, 1.0 + kappa * variance)
    else:
        kappa, phi = 0.0, dispersion(state, variance)
    # Independent wobble of the two rates tilts the split toward the candidate: E[candidate factor / stable
    # factor] = 1 + d^2 = 1 + kappa / 2 for mean-1 factors of relative sd d. The robust judge compares each poll
    # with the split the limit gives under that tilt, so a candidate at the limit does not drift into a fail.
    untilted = math.log(state.limit) + math.log(split)
    tilt_kappa, cap = kappa, POLL_CAP_NATS
    if third and variance >= SMALL_POLL_VARIANCE:
        # A poll with the information of a large canary: the tilt from a higher bound, and less evidence per poll.
        tilt_kappa = score_kappa(state, variance, margin_scale=TILT_Z / SCORE_Z)
        cap = LARGE_POLL_CAP_NATS
    poll = _poll_evidence(untilted + math.log1p(0.5 * tilt_kappa), candidate_errors, total_errors, phi, robust, cap)
    # The tilt is at kappa's upper bound: right for the fail side (a candidate at the limit must not drift into a
    # fail), but for the pass it would compare the poll with a split above the limit's, and a candidate exactly at
    # the limit passed in 22 % of runs at a 25 % canary with 30 % wobble. The second judge's pass reads the poll
    # untilted: wobble only ever tilts the split toward the candidate, so that pass is conservative.
    pass_poll = poll
    if detection and tilt_kappa > 0.0:
        pass_poll = _poll_evidence(untilted, candidate_errors, total_errors, phi, robust, cap)
    requests_sum = (state.requests_sum[0] + stable_requests, state.requests_sum[1] + candidate_requests)
    errors_sum = (state.errors_sum[0] + stable_errors, state.errors_sum[1] + candidate_errors)
    # Pearson's statistic of this poll at the ratio fitted on every poll so far, this one included (the second
    # judge: on the recent polls, exponentially weighted): known once the poll is in, so still predictable for the
    # next poll's phi, and a real regression is not read as noise.
    recent_requests, recent_errors = state.recent_requests, state.recent_errors
    if detection:
        recent_requests, recent_errors = _decayed(
            (recent_requests, recent_errors), (stable_requests, candidate_requests), (stable_errors, candidate_errors)
        )
        fitted = _estimated_ratio(recent_requests, recent_errors) * split
    else:
        fitted = _estimated_ratio(requests_sum, errors_sum) * split
    fitted_share = fitted / (1.0 + fitted)
    fitted_variance = total_errors * fitted_share * (1.0 - fitted_share)
    expected = total_errors * fitted_share
    pearson = (candidate_errors - expected) ** 2 / fitted_variance if fitted_variance > 0.0 else 1.0
    if detection:
        # The local ratio is fitted partly on this poll, so Pearson's statistic shrinks by its leverage (its share
        # of the weighted errors, about 1 - RECENT_DECAY once the window is full); the fit on every poll shrinks it
        # by the poll's share of all errors. Scaling by (1 - overall) / (1 - local) keeps the statistic's mean where
        # ADR 30's judge had it, so kappa is not underestimated.
        local = min(LEVERAGE_CAP, total_errors / (recent_errors[0] + recent_errors[1]))
        overall = min(LEVERAGE_CAP, total_errors / (errors_sum[0] + errors_sum[1]))
        pearson *= (1.0 - overall) / (1.0 - local)
    log_likelihood = [old + new for old, new in zip(state.log_likelihood, poll, strict=True)]
    restart = state.late_starts < horizon
    start = late_start_log_weight(state.late_starts, horizon) if third else 0.0
    late = [
        (_log_add(value, start) if restart else value) + poll[index] for value, index in zip(late, _ABOVE, strict=True)
    ]
    log_e_fail, log_e_pass = log_e_values(log_likelihood)
    step_log_likelihood = state.step_log_likelihood
    if robust:
        step_log_likelihood = [
            old + new for old, new in zip(state.step_log_likelihood or [0.0] * len(poll), pass_poll, strict=True)
        ]
    return ErrorRateTestState(
        limit=state.limit,
        log_likelihood=log_likelihood,
        max_log_e_fail=max(state.max_log_e_fail, log_e_fail),
        max_log_e_pass=max(state.max_log_e_pass, log_e_pass),
        skipped_polls=state.skipped_polls,
        late_log_e=late,
        late_starts=state.late_starts + (1 if restart else 0),
        max_log_late=max(state.max_log_late, _log_late(late)),
        pearson_sum=state.pearson_sum + pearson,
        pearson_polls=state.pearson_polls + 1,
        variance_sum=state.variance_sum + fitted_variance,
        requests_sum=requests_sum,
        errors_sum=errors_sum,
        step_log_likelihood=step_log_likelihood,
        variance_square_sum=state.variance_square_sum + fitted_variance * fitted_variance,
        recent_requests=recent_requests,
        recent_errors=recent_errors,
    )


def log_e_beyond(log_likelihood: list[float], ratio: float, limit: float) -> tuple[float, float]:
    """Log e-value against "r <= the smallest grid ratio >= ``ratio``", and that sub-mixture's weight share.

    The grid points at or beyond ``ratio`` (at least those above the limit) mixed with their weights
    renormalised: a test of its own, valid wherever the true ratio is at most the smallest of them. Because
    the main fail mixture is at least ``share`` times it, reaching 1 / (alpha x share) here implies the main
    test fails at alpha: the hard trigger and the margin's ratio cap add no rollback path outside alpha.
    """
    offset = math.log(max(ratio, limit) / limit)
    indices = tuple(index for index in _ABOVE if OFFSETS[index] >= offset - 1e-12) or (_ABOVE[-1],)
    share = sum(WEIGHTS[index] for index in indices)
    terms = [log_likelihood[index] + _LOG_WEIGHTS[index] for index in indices]
    best = max(terms)
    if best == -math.inf:
        return -math.inf, share
    return best + math.log(sum([math.exp(term - best) for term in terms])) - math.log(share), share


def _log_late(late: list[float]) -> float:
    """Log of the late-onset detector: the weighted sum over the grid ratios above the limit."""
    terms = [value + _LOG_WEIGHTS[index] for value, index in zip(late, _ABOVE, strict=True)]
    best = max(terms)
    if best == -math.inf:
        return -math.inf
    return best + math.log(sum([math.exp(term - best) for term in terms]))


def _log_add(a: float, b: float) -> float:
    high, low = (a, b) if a >= b else (b, a)
    return high if low == -math.inf else high + math.log1p(math.exp(low - high))


LATE_SLACK_SHARE = 0.1
"""Issue 19's third judge: the share of the late-onset detector's restart weight given to the horizon's second
half (the room for extensions); the planned half gets the rest."""


def late_start_log_weight(start: int, horizon: int) -> float:
    """Issue 19's third judge: log of horizon x the weight of the mixture started at informative poll ``start``.

    The horizon is twice the rollout's planned polls (``HORIZON_SLACK``), the second half being room for
    extensions. The ``horizon`` starts' weights sum to ``horizon`` whatever the split, so ``late_log_threshold``
    is unchanged; the planned half's starts get (1 - ``LATE_SLACK_SHARE``) of it, so a regression starting on
    schedule meets a threshold log(2 x 0.9) = 0.59 nats lower, and one starting in an extension 1.6 nats higher.
    """
    horizon = max(1, horizon)
    planned = max(1, (horizon - 1) // 2)
    if planned >= horizon:
        return 0.0
    if start < planned:
        return math.log((1.0 - LATE_SLACK_SHARE) * horizon / planned)
    return math.log(LATE_SLACK_SHARE * horizon / (horizon - planned))


def late_log_threshold(horizon: int, alpha: float) -> float:
    """Threshold of the late-onset detector's log value: Ville's inequality on a sum of supermartingales.

    The mixture started at one poll is a supermartingale of initial value 1 under the null (1 before its start);
    the sum of the ``horizon`` of them starts at ``horizon``, so it ever reaches horizon / alpha with probability
    at most alpha. The detector leaves out the not-yet-started terms, which only makes it smaller.
    """
    return math.log(max(1, horizon) / alpha)
