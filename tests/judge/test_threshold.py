"""The threshold method: point estimates against the limits once the minimum sample is in."""

from __future__ import annotations

import pytest

from models.criteria import Criteria
from tests.judge.helpers import COARSE_BOUNDS, Arm, poll, start, verdicts


def test_inconclusive_until_min_requests() -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(30_000), candidate.serve(300, error_rate=0.05))
    assert judgement.decision == "continue"
    assert set(verdicts(judgement).values()) == {"inconclusive"}
    assert not any(trigger.breached for trigger in judgement.triggers)
    assert "300/500" in judgement.reason


def test_identical_versions_pass() -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(60_000), candidate.serve(600))
    assert judgement.decision == "pass", judgement.reason
    assert judgement.reason.startswith("all criteria passed")


@pytest.mark.parametrize(
    ("serve", "criterion"),
    [
        ({"error_rate": 0.013}, "error_rate"),
        ({"latency_scale": 1.2}, "latency_p95"),
        ({"quality": 0.77}, "quality"),
    ],
)
def test_each_criterion_fails_on_its_own(serve: dict[str, float], criterion: str) -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(60_000), candidate.serve(1000, **serve))
    assert judgement.decision == "rollback"
    assert verdicts(judgement)[criterion] == "fail"
    assert judgement.reason.startswith(f"{criterion} failed")
    assert not any(trigger.breached for trigger in judgement.triggers)


def test_error_trigger_breaches_and_reason_has_the_numbers() -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(497_000), candidate.serve(5_210, error_rate=0.0303))
    assert judgement.decision == "rollback"
    assert judgement.triggers[0].breached
    assert "candidate 3.03% vs stable 1%" in judgement.reason
    assert "5,210/497,000 requests" in judgement.reason
    assert "(ratio 3.033 > 2)" in judgement.reason


def test_latency_trigger_breaches() -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(60_000), candidate.serve(1000, latency_scale=1.8))
    assert [trigger.breached for trigger in judgement.triggers] == [False, True]
    assert judgement.reason.startswith("latency_p95 hard trigger breached")


def test_zero_errors_on_both_sides_is_not_a_regression() -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(60_000, error_rate=0.0), candidate.serve(1000, error_rate=0.0))
    assert verdicts(judgement)["error_rate"] == "pass"
    assert not judgement.triggers[0].breached


def test_zero_traffic_stays_inconclusive() -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.reading(), candidate.reading())
    assert judgement.decision == "continue"
    assert set(verdicts(judgement).values()) == {"inconclusive"}


def test_coarse_buckets_warn() -> None:
    stable, candidate = Arm(bounds=COARSE_BOUNDS), Arm(bounds=COARSE_BOUNDS)
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(60_000), candidate.serve(1000))
    assert any("too coarse" in warning for warning in judgement.warnings)


def test_counts_only_the_step_increments() -> None:
    """A bad history before the baseline must not count: the step starts from the baseline readings."""
    stable, candidate = Arm(), Arm()
    candidate.serve(100_000, error_rate=0.05)  # before the step
    stable.serve(100_000)
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(60_000), candidate.serve(1000))
    assert judgement.decision == "pass", judgement.reason


def test_min_requests_comes_from_the_criteria() -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    judgement = poll(state, stable.serve(30_000), candidate.serve(300), Criteria(min_requests=200))
    assert judgement.decision == "pass"
