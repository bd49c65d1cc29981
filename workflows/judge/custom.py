"""Judging the operators' custom metrics (``models.custom_metrics``) with the built-in criteria's statistics.

* A **rate** is the error-rate test (``error_rate.py``) with the metric's events in place of errors: the ratio
  of the worse way (candidate/stable, or stable/candidate for ``lower_is_worse``, by swapping the arms) must stay
  at most the limit.
* A **mean** is the quality test (``quality.py``): observations rescaled from the metric's bounds to [0, 1],
  the empirical-Bernstein confidence sequences of both arms, the difference the worse way at most the limit.
* A **count** is no test: the candidate's events since the rollout's first reading against a ceiling, a hard
  trigger (``count_verdict``).

One alpha for the rollout: when a spec judges custom rates or means, ``CUSTOM_ALPHA_SHARE`` of ``criteria.alpha``
goes to them, split equally (a union bound), and the built-in criteria are judged at the rest
(``builtin_alpha``). Without custom rates or means nothing changes. Each step's tests start afresh and spend the
step's ``alpha_share``, as the whole-rollout judge's latency and quality tests do.

Pure and deterministic: safe inside the workflow sandbox.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta

from models.counters import Counters, CustomValue
from models.custom_metrics import CustomCriterion, CustomMetric, CustomVerdict, effective_limit
from models.verdicts import Verdict
from workflows.judge import bernstein, error_rate, quality
from workflows.judge.models import ArmTotals, CustomTestState, CustomTotals, QualityTestState

CUSTOM_ALPHA_SHARE = 0.2
"""Share of ``criteria.alpha`` the custom rates and means of a spec spend together, when it has any. A fifth:
the built-in criteria keep most of the budget (their speed is what the benchmark figures quote), and the custom
ones are typically few."""


def statistical(criteria: list[CustomCriterion], definitions: Mapping[str, CustomMetric]) -> list[CustomCriterion]:
    """The criteria judged by a test (rates and means), in the spec's order."""
    return [c for c in criteria if c.metric in definitions and definitions[c.metric].kind != "count"]


def builtin_alpha(alpha: float, statistical_count: int) -> float:
    """The built-in criteria's alpha: all of it without custom tests, else what the custom share leaves."""
    return alpha * (1.0 - CUSTOM_ALPHA_SHARE) if statistical_count else alpha


def custom_alpha(alpha: float, statistical_count: int) -> float:
    """One custom test's alpha (before the step's share)."""
    return alpha * CUSTOM_ALPHA_SHARE / max(1, statistical_count)


def increment(previous: CustomValue | None, current: CustomValue, *, mean: bool) -> CustomValue:
    """Growth of one cumulative reading since the previous; a reset (the count went down) counts from zero.

    A mean's sum may fall (negative observations), so only its count tells a restart; events never fall.
    """
    if previous is None:
        return CustomValue(value=0.0)
    went_down = current.count < previous.count if mean else current.value < previous.value
    if went_down:
        return current
    return CustomValue(
        value=current.value - previous.value,
        sum_squares=max(0.0, current.sum_squares - previous.sum_squares),
        count=max(0.0, current.count - previous.count),
    )


def _add(totals: CustomTotals, step: CustomValue, requests: int) -> CustomTotals:
    return CustomTotals(
        value=totals.value + step.value,
        sum_squares=totals.sum_squares + step.sum_squares,
        count=totals.count + step.count,
        requests=totals.requests + requests,
    )


def _scaled(value: float, squares: float, count: float, low: float, width: float) -> tuple[float, float, int]:
    """Sum, sum of squares and count of the observations rescaled from [low, low + width] to [0, 1]."""
    total = (value - count * low) / width
    total_squares = (squares - 2.0 * low * value + count * low * low) / (width * width)
    n = round(count)
    return min(max(total, 0.0), float(n)), min(max(total_squares, 0.0), float(n)), n


def _rate(
    test: CustomTestState,
    steps: tuple[CustomValue, CustomValue],
    requests: tuple[int, int],
    definition: CustomMetric,
    limit: float,
    alpha: float,
    waiting: str | None,
    name: str,
) -> tuple[CustomVerdict, CustomTestState]:
    stable = _add(test.stable, steps[0], requests[0])
    candidate = _add(test.candidate, steps[1], requests[1])
    state = test.rate or error_rate.new_error_rate_state(limit)
    # The test asks "second / first <= limit": candidate second when higher is worse, stable second otherwise.
    swap = definition.direction == "lower_is_worse"
    first, second = (1, 0) if swap else (0, 1)
    events = (round(steps[0].value), round(steps[1].value))
    state, _ = error_rate.update(state, requests[first], events[first], requests[second], events[second])
    log_threshold = math.log(1.0 / alpha)
    arms = (stable, candidate)
    rates = [arm.value / arm.requests if arm.requests else None for arm in arms]
    reference, tested = rates[first], rates[second]
    observed = tested / reference if tested is not None and reference else None
    verdict: Verdict = "inconclusive"
    note = waiting or ""
    if not waiting:
        if state.max_log_e_fail >= log_threshold:
            verdict = "fail"
        elif state.max_log_e_pass >= log_threshold:
            verdict = "pass"
        elif stable.value + candidate.value <= 0:
            note = "no events on either version yet: the ratio cannot be tested"
    lower, upper = error_rate.confidence_bounds(state, log_threshold)
    result = CustomVerdict(
        metric=name,
        kind="rate",
        verdict=verdict,
        stable=rates[0],
        candidate=rates[1],
        observed=observed,
        limit=limit,
        lower=lower,
        upper=upper,
        note=note,
    )
    return result, test.model_copy(update={"rate": state, "stable": stable, "candidate": candidate})


def _mean(
    test: CustomTestState,
    steps: tuple[CustomValue, CustomValue],
    requests: tuple[int, int],
    definition: CustomMetric,
    limit: float,
    alpha: float,
    waiting: str | None,
    name: str,
) -> tuple[CustomVerdict, CustomTestState]:
    low, high = definition.bounds
    width = high - low
    before = (test.stable, test.candidate)
    after = (_add(test.stable, steps[0], requests[0]), _add(test.candidate, steps[1], requests[1]))
    variances = [0.0, 0.0]
    old = test.mean or QualityTestState()
    prior_sum, _, prior_n = _scaled(before[0].value, before[0].sum_squares, before[0].count, low, width)
    prior = prior_sum / prior_n if prior_n else quality.DEFAULT_PRIOR
    for arm in (0, 1):
        previous_sum, _, previous_n = _scaled(before[arm].value, before[arm].sum_squares, before[arm].count, low, width)
        step_sum, step_squares, step_n = _scaled(steps[arm].value, steps[arm].sum_squares, steps[arm].count, low, width)
        variance = old.stable_variance if arm == 0 else old.candidate_variance
        if step_n > 0:
            guess = bernstein.predictable_guess(previous_sum, previous_n, prior)
            variance += bernstein.variance_increment(step_sum, step_squares, step_n, guess)
        variances[arm] = variance
    state = QualityTestState(stable_variance=variances[0], candidate_variance=variances[1])
    sums = [_scaled(arm.value, arm.sum_squares, arm.count, low, width) for arm in after]
    # quality.evaluate asks "second - first >= -drop": candidate second when lower is worse, stable otherwise.
    swap = definition.direction == "higher_is_worse"
    first, second = (1, 0) if swap else (0, 1)
    ordered = QualityTestState(stable_variance=variances[first], candidate_variance=variances[second])
    totals = (
        ArmTotals(quality_sum=sums[first][0], quality_count=sums[first][2]),
        ArmTotals(quality_sum=sums[second][0], quality_count=sums[second][2]),
    )
    verdict_text, low_bound, high_bound = quality.evaluate(ordered, totals, limit / width, alpha)
    means = [arm.value / arm.count if arm.count else None for arm in after]
    observed = None
    worse, better = means[first], means[second]
    if worse is not None and better is not None:
        observed = worse - better  # the difference the worse way (candidate - stable when higher is worse)
    verdict: Verdict = "inconclusive"
    note = waiting or ""
    if means[0] is None or means[1] is None:
        note = "no observations yet"
    elif not waiting and verdict_text in ("fail", "pass"):
        verdict = "fail" if verdict_text == "fail" else "pass"
    # Bounds of second - first, in [0, 1] units; the worse way is first - second, in the metric's units.
    lower = -high_bound * width if high_bound is not None else None
    upper = -low_bound * width if low_bound is not None else None
    result = CustomVerdict(
        metric=name,
        kind="mean",
        verdict=verdict,
        stable=means[0],
        candidate=means[1],
        observed=observed,
        limit=limit,
        lower=lower,
        upper=upper,
        note=note,
    )
    return result, CustomTestState(mean=state, stable=after[0], candidate=after[1])


def judge_custom(
    tests: Mapping[str, CustomTestState],
    *,
    last: tuple[Counters, Counters],
    now: tuple[Counters, Counters],
    requests: tuple[int, int],
    candidate_requests: int,
    criteria: list[CustomCriterion],
    definitions: Mapping[str, CustomMetric],
    alpha: float,
    alpha_share: float,
    min_requests: int,
) -> tuple[list[CustomVerdict], dict[str, CustomTestState]]:
    """One poll of every custom rate and mean.

    Args:
        tests: The step's tests before this poll, by metric (empty at the step's start).
        last: (stable, candidate) raw counters at the previous poll (or the step's baseline).
        now: (stable, candidate) raw counters read now.
        requests: (stable, candidate) requests of this poll (the built-in judge's increments).
        candidate_requests: Candidate requests in the step so far, for ``min_requests``.
        criteria: The spec's custom criteria (counts are skipped here: ``count_verdict``).
        definitions: The target's definitions by name.
        alpha: ``criteria.alpha`` of the rollout.
        alpha_share: The step's share of the budget (1 / steps under the whole-rollout judge, else 1).
        min_requests: ``criteria.min_requests``: no verdict before the candidate has this many in the step.
    """
    tested = statistical(criteria, definitions)
    each_alpha = custom_alpha(alpha, len(tested)) * alpha_share
    waiting = None
    if candidate_requests < min_requests:
        waiting = f"waiting for data: candidate {candidate_requests:,}/{min_requests:,} requests"
    results: list[CustomVerdict] = []
    updated: dict[str, CustomTestState] = {}
    for criterion in tested:
        name = criterion.metric
        definition = definitions[name]
        mean = definition.kind == "mean"
        missing = [
            arm for arm, counters in zip(("stable", "candidate"), now, strict=True) if name not in counters.custom
        ]
        if missing:
            raise ValueError(f"custom.{name}: no reading of {' and '.join(missing)}")
        steps = (
            increment(last[0].custom.get(name), now[0].custom[name], mean=mean),
            increment(last[1].custom.get(name), now[1].custom[name], mean=mean),
        )
        test = tests.get(name, CustomTestState())
        judge_one = _mean if mean else _rate
        limit = effective_limit(definition, criterion)
        result, updated[name] = judge_one(test, steps, requests, definition, limit, each_alpha, waiting, name)
        results.append(result)
    return results, updated


def tally_counts(
    last: Mapping[str, float], totals: Mapping[str, float], candidate: Counters, names: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """The candidate's events per count metric since the rollout's first reading: (last raw values, totals).

    A metric seen for the first time starts from its value then; a reading that went down (a restart) adds its
    whole value, as the judge counts a reset.
    """
    new_last, new_totals = dict(last), dict(totals)
    for name in names:
        reading = candidate.custom.get(name)
        if reading is None:
            raise ValueError(f"custom.{name}: no reading of candidate")
        previous = last.get(name)
        if previous is not None:
            grown = reading.value - previous if reading.value >= previous else reading.value
            new_totals[name] = new_totals.get(name, 0.0) + grown
        else:
            new_totals.setdefault(name, 0.0)
        new_last[name] = reading.value
    return new_last, new_totals


def counting(definition: CustomMetric, elapsed: timedelta) -> bool:
    """Whether a count's events still count, ``elapsed`` into the rollout: always, or within its window."""
    return definition.window is None or elapsed <= definition.window


def count_verdict(name: str, total: float, ceiling: float) -> CustomVerdict:
    """A count against its ceiling: ``fail`` (roll back at once) above it, else ``pass``."""
    above = total > ceiling
    return CustomVerdict(
        metric=name,
        kind="count",
        verdict="fail" if above else "pass",
        candidate=total,
        observed=total,
        limit=ceiling,
        note=f"{total:g} candidate events since the first reading, ceiling {ceiling:g}" if above else "",
    )
