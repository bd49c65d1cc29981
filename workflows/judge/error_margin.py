"""Sequential test of "candidate error rate <= stable error rate + margin", an absolute margin beside the ratio.

Why: the ratio test learns only from errors, so a service with no errors on either version gives it nothing and
it can never pass; yet "no errors in 50,000 requests" is plain evidence that the candidate is fine. An absolute
margin says how many more failed requests per request a person accepts; it is tested with each version's
error rate bounded by the empirical-Bernstein confidence sequence of ``bernstein.py`` (every request is a
[0, 1] observation: 1 when it failed), from the per-poll counts.

Decision, with m the margin and each bound anytime-valid:

* pass when upper(candidate rate) - lower(stable rate) <= m: the candidate is within the margin;
* fail when lower(candidate rate) - upper(stable rate) > m: it is beyond the margin.

The error criterion holds when the ratio or the margin holds, so it passes on either test's pass and fails
only when both fail. The bounds cover each version's average error rate over the requests it served, poll by
poll, so rates that wobble from poll to poll (overdispersion) or with the daily load do not break them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from workflows.judge import bernstein
from workflows.judge.increments import Increment
from workflows.judge.models import ArmTotals, ErrorMarginState

PRIOR_RATE = 0.0
"""Guess of the error rate before any data: a healthy service's, which makes a clean service's bound tight."""


def update(
    state: ErrorMarginState, previous: tuple[ArmTotals, ArmTotals], steps: tuple[Increment, Increment]
) -> ErrorMarginState:
    """Add one poll's requests and errors of both versions (the guess is each version's rate before the poll)."""
    variances = []
    for old, arm, step in zip((state.stable_variance, state.candidate_variance), previous, steps, strict=True):
        guess = bernstein.predictable_guess(arm.errors, arm.requests, PRIOR_RATE)
        if step.requests <= 0:
            variances.append(old)
            continue
        errors = min(step.errors, step.requests)
        variances.append(old + bernstein.variance_increment(errors, errors, step.requests, guess))
    return ErrorMarginState(stable_variance=variances[0], candidate_variance=variances[1])


class MarginEvidence(NamedTuple):
    """What the margin test establishes at one poll."""

    verdict: str
    """``pass``, ``fail`` or ``inconclusive``."""
    lower: float | None
    """Lower bound on candidate rate - stable rate (None without data)."""
    upper: float | None
    """Upper bound on candidate rate - stable rate."""
    stable_lower: float
    """Lower bound on stable's error rate, at the fail side's level: when it is above margin / (ratio - 1), the
    ratio is the binding limit and the margin cannot save a candidate the ratio test fails."""


def evaluate(
    state: ErrorMarginState, totals: tuple[ArmTotals, ArmTotals], margin: float, alpha_pass: float, alpha_fail: float
) -> MarginEvidence:
    """Verdict and bounds on candidate rate - stable rate; each direction errs with probability at most its alpha.

    The fail side's three bounds (candidate lower, stable upper and lower) each get a third of ``alpha_fail``.
    """
    stable, candidate = totals
    if stable.requests <= 0 or candidate.requests <= 0:
        return MarginEvidence("inconclusive", None, None, 0.0)

    def arm(totals: ArmTotals, variance: float, log_threshold: float) -> tuple[float, float]:
        errors = min(totals.errors, totals.requests)
        return bernstein.bounds(errors, totals.requests, variance, log_threshold)

    pass_threshold = math.log(2.0 / alpha_pass)
    stable_low, _ = arm(stable, state.stable_variance, pass_threshold)
    _, candidate_high = arm(candidate, state.candidate_variance, pass_threshold)
    upper = candidate_high - stable_low
    fail_threshold = math.log(3.0 / alpha_fail)
    stable_low_fail, stable_high = arm(stable, state.stable_variance, fail_threshold)
    candidate_low, _ = arm(candidate, state.candidate_variance, fail_threshold)
    lower = candidate_low - stable_high
    if lower > margin:
        return MarginEvidence("fail", lower, upper, stable_low_fail)
    if upper <= margin:
        return MarginEvidence("pass", lower, upper, stable_low_fail)
    return MarginEvidence("inconclusive", lower, upper, stable_low_fail)
