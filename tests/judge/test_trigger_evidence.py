"""The hard error trigger under the sequential method needs evidence; the threshold method keeps its rule."""

from __future__ import annotations

import math

import pytest

from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from workflows.judge import judge, new_judge_state
from workflows.judge.trigger_evidence import binomial_upper_tail, excess_error_p_value

ZERO = Counters(requests=0, errors=0)
CRITERIA = Criteria(min_requests=200)


def exact_tail(k: int, n: int, p: float) -> float:
    """Independent of the module: log pmf by the recurrence pmf(i+1) = pmf(i) (n-i)/(i+1) p/(1-p)."""
    log_pmf = n * math.log1p(-p)
    total = 0.0
    for i in range(n + 1):
        if i >= k:
            total += math.exp(log_pmf)
        log_pmf += math.log(n - i) - math.log(i + 1) + math.log(p) - math.log1p(-p) if i < n else 0.0
    return total


@pytest.mark.parametrize(("k", "n", "p"), [(0, 5, 0.3), (3, 5, 0.3), (5, 5, 0.5), (40, 100, 0.3), (7, 20, 0.545)])
def test_binomial_tail_matches_the_exact_sum(k: int, n: int, p: float) -> None:
    assert binomial_upper_tail(k, n, p) == pytest.approx(exact_tail(k, n, p), rel=1e-9)


def test_normal_approximation_is_close_where_it_takes_over() -> None:
    n, p = 2_500, 0.3
    for k in (700, 750, 800, 850):
        assert binomial_upper_tail(k, n, p) == pytest.approx(exact_tail(k, n, p), abs=5e-3)


def test_p_value_accounts_for_unequal_traffic() -> None:
    # 1% canary: the candidate sees 1/99 of stable's requests; equal rates give errors in that proportion.
    assert excess_error_p_value(990, 99_000, 10, 1_000, 2.0) > 0.5
    assert excess_error_p_value(990, 99_000, 60, 1_000, 2.0) < 1e-6


def poll(method: str, stable: tuple[int, int], candidate: tuple[int, int]) -> bool:
    state = new_judge_state(ZERO, ZERO, method=method)  # type: ignore[arg-type]
    verdict = judge(
        state,
        stable=Counters(requests=stable[0], errors=stable[1]),
        candidate=Counters(requests=candidate[0], errors=candidate[1]),
        criteria=CRITERIA,
        triggers=RollbackTriggers(),
    )
    return next(t for t in verdict.triggers if t.name == "error_rate").breached


def test_a_handful_of_unlucky_requests_is_no_breach_for_the_sequential_judge() -> None:
    # The demo's false alarm: 6 candidate errors in 296 requests against stable's 1.01% (ratio 2.01 > 2).
    assert not poll("sequential", (29_706, 300), (296, 6))
    assert poll("threshold", (29_706, 300), (296, 6)), "the v1 rule is unchanged for rollouts it started"


def test_a_real_regression_breaches_at_once() -> None:
    assert poll("sequential", (99_000, 990), (5_000, 250))  # 5% against 1%
