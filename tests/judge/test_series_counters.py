"""Counters per series (pods): one pod restarting adds only its own increment, never the fleet's lifetime."""

from __future__ import annotations

import pytest

from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from workflows.judge import judge, new_judge_state
from workflows.judge.increments import increment, validate_counters

BOUNDS = (100.0, 250.0, float("inf"))


def _pod(requests: int, errors: int = 0) -> Counters:
    return Counters(
        requests=requests,
        errors=errors,
        latency_ms_buckets=[(BOUNDS[0], requests // 2), (BOUNDS[1], requests - requests // 10), (BOUNDS[2], requests)],
    )


def _fleet(pods: dict[str, Counters]) -> Counters:
    parts = list(pods.values())
    return Counters(
        requests=sum(p.requests for p in parts),
        errors=sum(p.errors for p in parts),
        latency_ms_buckets=[(bound, sum(p.latency_ms_buckets[i][1] for p in parts)) for i, bound in enumerate(BOUNDS)],
        series=pods,
    )


def _ten_pods(requests: int) -> dict[str, Counters]:
    return {f"pod-{i}": _pod(requests, requests // 100) for i in range(10)}


def test_one_pod_restarting_adds_only_its_own_counts() -> None:
    before = _ten_pods(900_000)
    after = {name: _pod(c.requests + 1_000, c.errors + 10) for name, c in before.items()}
    after["pod-3"] = _pod(400, 4)  # restarted since the last poll: 400 requests in its new life
    step = increment(_fleet(before), _fleet(after))
    assert step.requests == 9 * 1_000 + 400
    assert step.errors == 9 * 10 + 4
    assert step.reset
    assert step.latency_counts[-1] == step.requests
    # The same readings summed, without the breakdown: the drop reads as everything restarting (8.1M requests).
    whole = increment(_fleet(before).model_copy(update={"series": {}}), _fleet(after).model_copy(update={"series": {}}))
    assert whole.requests > 8_000_000


def test_a_new_pod_counts_from_zero_and_a_gone_pod_adds_nothing() -> None:
    before = {"a": _pod(1_000), "b": _pod(2_000)}
    after = {"a": _pod(1_500), "c": _pod(300)}
    step = increment(_fleet(before), _fleet(after))
    assert step.requests == 500 + 300
    assert not step.reset


def test_pods_on_different_bucket_layouts_drop_the_polls_latency() -> None:
    other = Counters(requests=10, errors=0, latency_ms_buckets=[(50.0, 5), (float("inf"), 10)])
    grown = Counters(requests=20, errors=0, latency_ms_buckets=[(50.0, 9), (float("inf"), 20)])
    before = Counters(requests=1_010, errors=0, series={"a": _pod(1_000), "b": other})
    after = Counters(requests=1_120, errors=0, series={"a": _pod(1_100), "b": grown})
    step = increment(before, after)
    assert step.requests == 110
    assert step.latency_bounds is None
    assert step.layout_changed


def test_series_are_validated_and_name_the_series() -> None:
    bad = Counters.model_construct(
        requests=5,
        errors=9,
        latency_ms_buckets=[],
        quality_sum=0.0,
        quality_sum_squares=0.0,
        quality_count=0,
        series={},
    )
    reading = Counters.model_construct(
        requests=5,
        errors=0,
        latency_ms_buckets=[],
        quality_sum=0.0,
        quality_sum_squares=0.0,
        quality_count=0,
        series={"pod-x": bad},
    )
    with pytest.raises(ValueError, match=r"stable.series\['pod-x'\].errors"):
        validate_counters(reading, "stable")
    with pytest.raises(ValueError, match="one level only"):
        Counters(
            requests=1,
            errors=0,
            series={"a": Counters(requests=1, errors=0, series={"b": Counters(requests=1, errors=0)})},
        )


def test_the_judge_sees_the_true_step_totals_through_rolling_restarts() -> None:
    """Ten pods per version, one restarting at each poll in turn: the step's totals are exactly what was served."""
    stable = _ten_pods(500_000)
    candidate = {name: _pod(5_000, 50) for name in stable}
    state = new_judge_state(
        _fleet(stable), _fleet(candidate), method="sequential", whole_rollout=True, robust=True, horizon_polls=100
    )
    served = [0, 0]
    for poll in range(20):
        for arm, pods, per_pod in ((0, stable, 3_000), (1, candidate, 30)):
            for index, (name, c) in enumerate(list(pods.items())):
                if index == poll % 10:
                    pods[name] = _pod(per_pod, per_pod // 100)  # restarted: only its new life
                else:
                    pods[name] = _pod(c.requests + per_pod, c.errors + per_pod // 100)
                served[arm] += per_pod
        judgement = judge(
            state, stable=_fleet(stable), candidate=_fleet(candidate), criteria=Criteria(), triggers=RollbackTriggers()
        )
        state = judgement.state
        assert judgement.decision != "rollback", judgement.reason
    assert (state.stable.requests, state.candidate.requests) == tuple(served)


def test_counts_a_restarted_pod_served_before_its_restart_once() -> None:
    before = _ten_pods(900_000)
    after = {name: _pod(c.requests + 1_000, c.errors + 10) for name, c in before.items()}
    # Pod 3 served 700 more requests (7 errors) after the previous poll, then restarted and served 400 (4).
    after["pod-3"] = _pod(400, 4).model_copy(update={"before_restart": _pod(900_700, 9_007)})
    step = increment(_fleet(before), _fleet(after))
    assert step.requests == 9 * 1_000 + 700 + 400
    assert step.errors == 9 * 10 + 7 + 4
    assert step.reset
    assert step.latency_counts[-1] == step.requests
    assert step.latency_counts[0] == 9 * 500 + 350 + 200


def test_samples_behind_the_previous_reading_add_nothing_before_the_restart() -> None:
    """A provider whose last sample before the restart predates the previous reading cannot take counts back."""
    before = {"a": _pod(1_000, 10)}
    after = {"a": _pod(300, 3).model_copy(update={"before_restart": _pod(990, 9)})}
    step = increment(_fleet(before), _fleet(after))
    assert (step.requests, step.errors, step.reset) == (300, 3, True)


def test_a_restart_the_raw_counters_hide_still_counts_both_lives() -> None:
    """The new process already served more than the old one had: without ``before_restart`` no reset would show."""
    before = {"a": _pod(1_000, 10)}
    after = {"a": _pod(5_000, 50).model_copy(update={"before_restart": _pod(1_200, 12)})}
    step = increment(_fleet(before), _fleet(after))
    assert (step.requests, step.errors, step.reset) == (200 + 5_000, 2 + 50, True)


def test_before_restart_is_validated_and_holds_counters_only() -> None:
    broken = _pod(300, 3).model_copy(update={"before_restart": Counters(requests=5, errors=9)})
    with pytest.raises(ValueError, match=r"series\['a'\]\.before_restart\.errors"):
        validate_counters(_fleet({"a": broken}), "candidate")
    with pytest.raises(ValueError, match="before_restart holds counters only"):
        Counters(requests=1, errors=0, before_restart=Counters(requests=1, errors=0, at=3.0))
