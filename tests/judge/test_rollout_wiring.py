"""How the workflow sizes the whole-rollout judge from the spec (``workflows.rollout.analysis``)."""

from __future__ import annotations

from datetime import timedelta

from models.spec import RolloutSpec
from workflows.rollout.analysis import HORIZON_SLACK, MAX_HORIZON_POLLS, horizon_polls, judge_rules


def _spec(**fields: object) -> RolloutSpec:
    base: dict[str, object] = {
        "service": "svc",
        "requested_by": "ml-engineer",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "http", "url": "http://127.0.0.1:1/routes"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:1/metrics"},
    }
    return RolloutSpec.model_validate({**base, **fields})


def test_the_default_schedule_allows_restarts_over_twice_its_48_hours() -> None:
    spec = _spec()
    assert spec.total_observation == timedelta(hours=48)
    assert horizon_polls(spec) == HORIZON_SLACK * 48 * 12 + 1


def test_the_horizon_is_at_least_one_poll_and_capped() -> None:
    assert horizon_polls(_spec(steps=[{"weight": 10, "observe": "1s"}], analysis_interval="1h")) == 1
    long = _spec(steps=[{"weight": 10, "observe": "90d"}] * 3, analysis_interval="1s")
    assert horizon_polls(long) == MAX_HORIZON_POLLS


def test_a_rollout_keeps_its_judge_when_the_evidence_patch_arrives_mid_rollout() -> None:
    assert judge_rules(first_step=True, carried_whole=False, whole_patch=True) == "evidence"
    assert judge_rules(first_step=True, carried_whole=False, whole_patch=False) == "per-step"
    # Met at a later step: the rollout started under older code and keeps what its first step used.
    assert judge_rules(first_step=False, carried_whole=True, whole_patch=True) == "whole-rollout"
    assert judge_rules(first_step=False, carried_whole=False, whole_patch=True) == "per-step"
