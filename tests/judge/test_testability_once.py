"""Issue 19: the p95's testability decided once per step from a confidence statement (``testability.decide_latency``).

Histograms here are a lognormal's expected counts at each bound, so every case is exact and deterministic.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from models.validation import SpecError, validate_spec
from models.verdicts import Verdict
from simulator.buckets import LATENCY_BOUNDS_MS
from tests.unit.test_shadow_item import governing
from tests.unit.test_strategy import base
from workflows.judge import judge, new_judge_state
from workflows.judge.increments import accumulate, increment
from workflows.judge.models import ArmTotals, LatencyTestability
from workflows.judge.testability import decide_latency, decision_sample, refusals, untestable_decided
from workflows.policy import floor_problems

PROMETHEUS_DEFAULT = (5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, math.inf)
POWERS_OF_TWO = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, math.inf)
STAND_EDGE = 3877.47
"""The stand's last 7.5 % bound (``simulator/buckets.py``); the next is 5000 ms, 1.29x wider."""
ALPHA = 0.05 * 0.2
_Z95 = NormalDist().inv_cdf(0.95)


def histogram(bounds: tuple[float, ...], p95: float, n: int, p50_share: float = 0.4) -> Counters:
    """Cumulative counts of n lognormal latencies with the given p95 (median ``p50_share`` of it)."""
    mu = math.log(p95 * p50_share)
    sigma = (math.log(p95) - mu) / _Z95
    counts = [n if math.isinf(b) else round(n * NormalDist(mu, sigma).cdf(math.log(b))) for b in bounds]
    return Counters.model_validate(
        {"requests": n, "errors": n // 100, "latency_ms_buckets": list(zip(bounds, counts, strict=True))}
    )


def totals(counters: Counters) -> ArmTotals:
    return accumulate(ArmTotals(), increment(Counters(requests=0, errors=0), counters))


def test_prometheus_default_buckets_cannot_test_a_one_point_one_limit_and_say_how_coarse() -> None:
    decided = decide_latency(totals(histogram(PROMETHEUS_DEFAULT, 300.0, 5000)), 1.1, ALPHA)
    assert decided is not None and not decided.testable
    assert decided.smallest_detectable_ratio >= 2.0
    assert "smallest detectable ratio" in decided.note and "> limit 1.1x" in decided.note


@pytest.mark.parametrize("p95", [STAND_EDGE * 0.95, STAND_EDGE * 0.99, STAND_EDGE * 1.01, STAND_EDGE * 1.05])
def test_a_p95_on_either_side_of_the_stands_coarse_edge_is_testable(p95: float) -> None:
    """The point estimate would put a p95 5 % above the edge in a 1.29x bucket; the decision keeps it testable."""
    decided = decide_latency(totals(histogram(LATENCY_BOUNDS_MS, p95, 20_000)), 1.1, ALPHA)
    assert decided is not None and decided.testable, decided


def test_a_p95_deep_in_a_wide_bucket_is_untestable_with_that_buckets_ratio() -> None:
    decided = decide_latency(totals(histogram(LATENCY_BOUNDS_MS, 6200.0, 20_000)), 1.1, ALPHA)
    assert decided is not None and not decided.testable
    assert decided.smallest_detectable_ratio == pytest.approx(1.5)  # (5000, 7500]
    assert decided.stable_p95_low == 5000.0 and decided.stable_p95_high == 7500.0


def test_a_p95_beyond_the_last_bound_has_no_detectable_ratio() -> None:
    decided = decide_latency(totals(histogram(POWERS_OF_TWO, 9000.0, 5000)), 1.1, ALPHA)
    assert decided is not None and not decided.testable and math.isinf(decided.smallest_detectable_ratio)
    assert "unbounded" in decided.note


def test_no_histogram_decides_nothing() -> None:
    assert decide_latency(totals(Counters(requests=1000, errors=1)), 1.1, ALPHA) is None


def coarse() -> LatencyTestability:
    decided = decide_latency(totals(histogram(POWERS_OF_TWO, 250.0, 5000)), 1.1, ALPHA)
    assert decided is not None and not decided.testable and decided.smallest_detectable_ratio == pytest.approx(2.0)
    return decided


def test_accepting_is_refused_where_the_smallest_detectable_ratio_exceeds_the_limit() -> None:
    decided = coarse()
    found = untestable_decided(totals(histogram(POWERS_OF_TWO, 250.0, 5000)), ArmTotals(), Criteria(), decided)
    assert set(found) == {"latency_p95", "quality"}  # no quality scores either
    refused = refusals(found, ["latency_p95", "quality"], 1.5, decided)
    assert list(refused) == ["latency_p95"]
    assert "accept_untestable_ratio_max 1.5x" in refused["latency_p95"] and "2x" in refused["latency_p95"]
    assert refusals(found, ["latency_p95", "quality"], 2.0, decided) == {}
    assert refusals(found, ["latency_p95", "quality"], None, decided) == {}, "runs before the patch: no limit"
    assert "latency_p95" in refusals(found, [], 2.0, decided), "not accepted at all"


def drifting_polls(n_polls: int = 12, per_poll: int = 4000) -> list[Counters]:
    """Stable's cumulative counters: the p95 starts below the stand's coarse edge and drifts 8 % above it."""
    cumulative = [0] * len(LATENCY_BOUNDS_MS)
    readings = []
    for poll in range(n_polls):
        p95 = STAND_EDGE * (0.97 + 0.11 * poll / (n_polls - 1))
        step = histogram(LATENCY_BOUNDS_MS, p95, per_poll)
        cumulative = [c + k for c, (_, k) in zip(cumulative, step.latency_ms_buckets, strict=True)]
        readings.append(
            Counters.model_validate(
                {
                    "requests": per_poll * (poll + 1),
                    "errors": per_poll * (poll + 1) // 100,
                    "latency_ms_buckets": list(zip(LATENCY_BOUNDS_MS, cumulative, strict=True)),
                }
            )
        )
    return readings


def latency_verdicts(once: bool) -> tuple[list[Verdict], list[LatencyTestability | None]]:
    empty = Counters.model_validate(
        {"requests": 0, "errors": 0, "latency_ms_buckets": [(b, 0) for b in LATENCY_BOUNDS_MS]}
    )
    state = new_judge_state(
        empty, empty, method="sequential", whole_rollout=True, horizon_polls=100, testability_once=once
    )
    verdicts, decisions = [], []
    for reading in drifting_polls():
        result = judge(state, stable=reading, candidate=reading, criteria=Criteria(), triggers=RollbackTriggers())
        state = result.state
        verdicts.append(next(c.verdict for c in result.criteria if c.name == "latency_p95"))
        decisions.append(state.latency_testability)
    return verdicts, decisions


def test_the_per_poll_rule_flips_on_a_drifting_p95_and_the_decision_does_not() -> None:
    before, _ = latency_verdicts(once=False)
    assert "untestable" in before, "the point estimate crosses into the 1.29x bucket"
    after, decisions = latency_verdicts(once=True)
    assert "untestable" not in after
    assert decisions[0] is not None and decisions[0].testable
    assert decisions[0].samples >= decision_sample(Criteria())
    assert all(d == decisions[0] for d in decisions), "made once, kept for the rest of the step"


def test_the_decision_waits_for_a_sufficient_sample() -> None:
    empty = Counters.model_validate({"requests": 0, "errors": 0, "latency_ms_buckets": [(b, 0) for b in POWERS_OF_TWO]})
    state = new_judge_state(empty, empty, method="sequential", whole_rollout=True, testability_once=True)
    few = histogram(POWERS_OF_TWO, 250.0, decision_sample(Criteria()) - 1)
    result = judge(state, stable=few, candidate=few, criteria=Criteria(), triggers=RollbackTriggers())
    assert result.state.latency_testability is None
    more = histogram(POWERS_OF_TWO, 250.0, 5000)
    result = judge(result.state, stable=more, candidate=more, criteria=Criteria(), triggers=RollbackTriggers())
    decided = result.state.latency_testability
    assert decided is not None and not decided.testable
    latency = next(c for c in result.criteria if c.name == "latency_p95")
    assert latency.verdict == "untestable" and "smallest detectable ratio 2x" in latency.note


def test_the_spec_field_is_bounded_and_named() -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(base(accept_untestable_ratio_max=1.0))
    assert any(p.startswith("accept_untestable_ratio_max") for p in info.value.problems)
    assert validate_spec(base()).untestable_ratio_max == 1.5
    assert "accept_untestable_ratio_max" not in validate_spec(base()).model_dump_json(), "older specs' JSON kept"


def test_the_policy_floor_holds_the_default_too() -> None:
    strict = governing(accept_untestable_ratio_max=1.2).policy
    problems = floor_problems(validate_spec(base()), strict, "policy default")
    assert "accept_untestable_ratio_max: 1.5 is more than the policy default maximum 1.2" in problems
    assert not [
        p for p in floor_problems(validate_spec(base(accept_untestable_ratio_max=1.2)), strict, "x") if "ratio" in p
    ]
