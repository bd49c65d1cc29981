"""The whole-rollout judge: one alpha for the rollout, a pass possible on clean traffic, late regressions caught.

Used for runs that start under the ``judge-whole-rollout`` patch; older runs keep ``sequential.py`` as it was.
What changes, criterion by criterion (see docs/architecture-decisions.md, ADR 13):

* error rate: the ratio test's evidence is carried from step to step (the conditional split test does not care
  that the weight changed), so its false rollback and false pass rates hold for the whole rollout, not per
  step. Its fail budget is shared between that test and a restarting late-onset detector. Every poll's evidence
  is discounted by the estimated dispersion of the split (quasi-likelihood), so bursty or clustered errors do
  not read as a regression. The absolute margin (``error_margin.py``) lets it pass without errors.
* latency p95 and quality: tested per step, each step spending ``alpha_share`` of their budget; the p95 says
  ``untestable`` (with the resolution that would be needed) when the buckets cannot establish the limit.
"""

from __future__ import annotations

import math

from models.criteria import Criteria
from models.verdicts import Verdict
from workflows.judge import error_margin, error_rate
from workflows.judge.histogram import Quantile
from workflows.judge.increments import Increment
from workflows.judge.models import ArmTotals, CriterionResult, ErrorMarginState, ErrorRateTestState, SequentialState
from workflows.judge.threshold import error_ratio

LATE_SHARE = 0.2
"""Share of the error criterion's fail budget given to the late-onset detector; the rest to the carried test.
Small, because the detector's threshold grows only with log(1 / share) while the carried test must stay fast
on a regression present from the start (2x at a 1 % canary within 40 minutes)."""
ALPHA_SHARES: dict[str, float] = {"error_rate": 0.6, "latency_p95": 0.2, "quality": 0.2}
"""Shares of ``criteria.alpha`` per criterion for the whole-rollout judge: errors get more than in the per-step
judge (0.5) because their test now also carries the late-onset detector, while latency and quality, fed by
every request, reach their targets with room to spare even at a quarter of their budget per step."""
DETECTION_LATE_SHARE = 0.3
"""Issue 19's second judge (``JudgeState.detection``): the late-onset detector's share of the fail budget (0.2
before). Its threshold is log(horizon / (alpha x share)), the carried test's log(1 / (alpha x (1 - share))): moving
0.1 of the budget lowers the first by 0.41 nats and raises the second by 0.13. Measured (400 runs, seed 4242):
0.25 / 0.3 / 0.35 gave 45 / 45 / 50 minutes for 2x at a 1 % canary and 90 / 85 / 85 for a late onset."""


THIRD_LATE_SHARE = 0.3
"""Issue 19's third judge: the late-onset detector's share of the fail budget."""


def late_share(detection: bool, third: bool = False) -> float:
    """The late-onset detector's share of the error criterion's fail budget; the carried test gets the rest.

    The split keeps every rollback path inside the criterion's alpha: the carried test spends (1 - share) x alpha,
    the detector share x alpha (a union bound over the two), and the hard error trigger and the margin's ratio cap
    fire only on evidence that already crosses the carried test's own threshold (``error_rate.log_e_beyond``).
    """
    if third:
        return THIRD_LATE_SHARE
    return DETECTION_LATE_SHARE if detection else LATE_SHARE


MARGIN_PASS_SHARE = 0.5
"""Share of the error criterion's pass budget given to the absolute margin; the rest to the ratio."""
MARGIN_RATIO_CAP = 1.5
"""Issue 19's judge: the absolute margin forgives a candidate only below this error-rate ratio. Evidence that the
ratio is above it (the grid's next point, 1.54x at the default 1.2x limit) fails the criterion whatever the margin
says, so a 2x regression is caught at any base rate, 0.1 % with the default 0.001 margin included."""


def error_rate_whole(
    state: SequentialState,
    previous: tuple[ArmTotals, ArmTotals],
    steps: tuple[Increment, Increment],
    totals: tuple[ArmTotals, ArmTotals],
    criteria: Criteria,
    *,
    alpha: float,
    alpha_share: float,
    horizon: int,
    evidence: bool,
    robust: bool = False,
    detection: bool = False,
    third: bool = False,
) -> tuple[CriterionResult, ErrorRateTestState, ErrorMarginState]:
    """The error criterion: ratio (carried, dispersion-aware, late detector) or absolute margin.

    Args:
        state: The tests' statistics before this poll (the error-rate test carried from earlier steps).
        previous: Accumulated (stable, candidate) increments of the step before this poll.
        steps: This poll's increments.
        totals: Accumulated increments of the step including this poll.
        criteria: The pre-registered criteria.
        evidence: False skips the ratio's grid bounds (simulations); verdicts are the same.
        alpha: The error criterion's budget for the whole rollout (each direction).
        alpha_share: The share of it this step may spend on the per-step margin test.
        horizon: Polls at which the late-onset detector may restart.
        robust: Issue 19's judge (``JudgeState.robust``): robust dispersion and capped polls, the pass from
            this step's evidence only, the margin capped at ``MARGIN_RATIO_CAP``.
        detection: Issue 19's second judge (``JudgeState.detection``, with ``robust``): the kappa bound's margin
            scaled to the poll's information, Pearson's statistic against a local ratio, the late-onset detector's
            larger share of the fail budget (``DETECTION_LATE_SHARE``).
        third: Issue 19's third judge (``JudgeState.third``, with ``detection``): kappa's bound with its standard
            error at the bound (``error_rate.score_kappa``), the late-onset detector's restarts weighted toward the
            planned polls, and the absolute margin's pass only where the ratio does not bind.
    """
    limit = criteria.error_rate_ratio_max
    test = state.error_rate or error_rate.new_error_rate_state(limit)
    if test.limit != limit:
        raise ValueError(f"criteria.error_rate_ratio_max changed within the rollout ({test.limit} -> {limit})")
    test = error_rate.update_whole(
        test,
        steps[0].requests,
        steps[0].errors,
        steps[1].requests,
        steps[1].errors,
        horizon=horizon,
        robust=robust,
        detection=detection,
        third=third,
    )
    margin_state = error_margin.update(state.error_margin or ErrorMarginState(), previous, steps)
    stable, candidate = totals
    fail_main = math.log(1.0 / (alpha * (1.0 - late_share(detection, third))))
    fail_late = error_rate.late_log_threshold(horizon, alpha * late_share(detection, third))
    pass_ratio = math.log(1.0 / (alpha * (1.0 - MARGIN_PASS_SHARE)))
    ratio_fail = test.max_log_e_fail >= fail_main or test.max_log_late >= fail_late
    if robust:
        # The pass is for this step's weight: earned by this step's polls, and lost again if they turn.
        ratio_pass = (
            bool(test.step_log_likelihood) and error_rate.log_e_values(test.step_log_likelihood)[1] >= pass_ratio
        )
        capped, share = error_rate.log_e_beyond(test.log_likelihood, MARGIN_RATIO_CAP, limit)
        beyond_cap = capped >= fail_main - math.log(share)
    else:
        ratio_pass = test.max_log_e_pass >= pass_ratio
        beyond_cap = False
    margin = criteria.error_rate_margin
    margin_evidence = error_margin.evaluate(
        margin_state,
        totals,
        margin,
        alpha_pass=alpha * MARGIN_PASS_SHARE * alpha_share,
        alpha_fail=alpha * alpha_share,
    )
    margin_verdict, margin_low, margin_high = margin_evidence.verdict, margin_evidence.lower, margin_evidence.upper
    # The ratio binds where ratio x stable >= stable + margin: there a ratio fail alone breaks the criterion.
    ratio_binds = margin <= 0.0 or (limit > 1.0 and margin_evidence.stable_lower * (limit - 1.0) >= margin)
    ratio, note = error_ratio(stable, candidate)
    lower, upper = error_rate.confidence_bounds(test, fail_main) if evidence else (None, None)
    verdict: Verdict = "inconclusive"
    waiting = None
    if candidate.requests < criteria.min_requests:
        waiting = f"waiting for data: candidate {candidate.requests:,}/{criteria.min_requests:,} requests"
    elif not stable.requests:
        waiting = "no stable traffic yet"
    if waiting:
        note = waiting
    elif beyond_cap or (ratio_fail and (ratio_binds or margin_verdict == "fail")):
        verdict = "fail"
        if beyond_cap and not ratio_binds and margin_verdict != "fail":
            note = (note + "; " if note else "") + f"above {MARGIN_RATIO_CAP:g}x, beyond what the margin forgives"
        if test.max_log_late >= fail_late and test.max_log_e_fail < fail_main:
            note = (note + "; " if note else "") + "a late-onset regression (restarted detector)"
    elif ratio_pass or (margin > 0.0 and margin_verdict == "pass" and not (third and ratio_binds)):
        verdict = "pass"
        if not ratio_pass:
            note = (note + "; " if note else "") + f"within the absolute margin of {margin:g}"
    elif stable.errors + candidate.errors == 0:
        note = "no errors on either version yet: the ratio cannot be tested" + (
            "" if margin > 0.0 else " (no absolute margin set)"
        )
    if test.pearson_polls and evidence:
        phi = test.pearson_sum / test.pearson_polls
        if phi > 1.5:
            note = (
                note + "; " if note else ""
            ) + f"errors {phi:.1f}x more variable than binomial (evidence discounted)"
    result = CriterionResult(
        name="error_rate",
        verdict=verdict,
        comparison="ratio",
        stable_estimate=stable.errors / stable.requests if stable.requests else None,
        candidate_estimate=candidate.errors / candidate.requests if candidate.requests else None,
        observed=ratio,
        limit=limit,
        lower_bound=lower,
        upper_bound=upper,
        e_value=math.exp(min(700.0, max(test.max_log_e_fail, test.max_log_late))),
        p_value=min(1.0, math.exp(-test.max_log_e_fail)),
        samples_stable=stable.requests,
        samples_candidate=candidate.requests,
        note=note
        if margin_low is None or not evidence
        else f"{note}; rate difference in [{margin_low:.4g}, {margin_high:.4g}]".lstrip("; "),
    )
    return result, test, margin_state


def latency_resolution(stable_q: Quantile | None, limit: float) -> str | None:
    """Why the buckets cannot test a p95 ratio of ``limit``, and the resolution that would; None when they can."""
    if stable_q is None or stable_q.bucket_lower <= 0.0:
        return None
    if stable_q.beyond_last_bound:
        return (
            f"stable p95 lies beyond the last finite bucket bound ({stable_q.bucket_lower:g} ms): add bounds above "
            f"it, at most {limit:g}x apart"
        )
    width = stable_q.bucket_upper / stable_q.bucket_lower
    if width <= limit:
        return None
    return (
        f"stable p95 lies in bucket ({stable_q.bucket_lower:g}, {stable_q.bucket_upper:g}] ms, {width:.2f}x wide; "
        f"a {limit:g}x p95 limit needs bounds at most {limit:g}x apart there (e.g. "
        f"{stable_q.bucket_lower:g}, {stable_q.bucket_lower * limit:.4g}, "
        f"{stable_q.bucket_lower * limit * limit:.4g} ... ms)"
    )


def error_trigger_evidence(
    state: SequentialState, trigger_ratio: float, alpha: float, *, detection: bool = False, third: bool = False
) -> tuple[bool, float]:
    """Issue 19's hard error trigger: the carried, dispersion-aware test's evidence that the ratio is above it.

    Breached when the sub-mixture of grid ratios at or beyond ``trigger_ratio`` reaches 1 / (alpha_main x its
    weight share), which implies the main fail test has reached 1 / alpha_main: the trigger can only fire on
    evidence the criterion's own budget already pays for (no rollback path outside alpha), and it reads the
    same discounted, capped polls (no fixed-sample test rerun at every poll, no restart at each step).

    Returns:
        (breached, log e-value of the sub-mixture).
    """
    test = state.error_rate
    if test is None:
        return False, -math.inf
    fail_main = math.log(1.0 / (alpha * (1.0 - late_share(detection, third))))
    value, share = error_rate.log_e_beyond(test.log_likelihood, trigger_ratio, test.limit)
    return value >= fail_main - math.log(share), value
