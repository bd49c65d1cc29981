"""Issue 19's second judge (``JudgeState.detection``): faster detection, the same footing on wobbling traffic."""

from __future__ import annotations

import numpy as np

from tests.judge.helpers import Arm
from workflows.judge import JudgeState, error_rate, new_judge_state
from workflows.judge.models import ErrorRateTestState
from workflows.judge.whole_rollout import DETECTION_LATE_SHARE, LATE_SHARE, late_share
from workflows.rollout.analysis import judge_rules

LATE_THRESHOLD = error_rate.late_log_threshold(576, 0.05 * 0.6 * DETECTION_LATE_SHARE)


def _run(
    rng: np.random.Generator,
    polls: int,
    *,
    ratio: float = 1.0,
    onset: int = 0,
    detection: bool = True,
    state: ErrorRateTestState | None = None,
) -> ErrorRateTestState:
    """A 1 % canary at 1 % errors (about 3 candidate errors a poll), the candidate at ``ratio`` from ``onset``."""
    state = state or error_rate.new_error_rate_state(1.2)
    for poll in range(polls):
        candidate_rate = 0.01 * (ratio if poll >= onset else 1.0)
        state = error_rate.update_whole(
            state,
            29_700,
            int(rng.binomial(29_700, 0.01)),
            300,
            int(rng.binomial(300, candidate_rate)),
            horizon=576,
            robust=True,
            detection=detection,
        )
    return state


def test_the_kappa_margin_shrinks_only_for_polls_with_little_information() -> None:
    state = _run(np.random.default_rng(1), 20)
    small, large = 3.0, 4 * error_rate.SMALL_POLL_VARIANCE
    assert error_rate.detection_kappa(state, large) == error_rate.robust_kappa(state, large)
    assert error_rate.detection_kappa(state, small) < error_rate.robust_kappa(state, small)
    # The estimate itself (the measured wobble and the ceiling prior) is kept whole: only the margin scales.
    no_margin = error_rate.detection_kappa(state, 0.0)
    assert no_margin >= 0.0 and error_rate.detection_kappa(state, small) > no_margin


def test_a_late_regression_is_not_read_as_dispersion() -> None:
    before = _run(np.random.default_rng(2), 288)
    robust_before = _run(np.random.default_rng(2), 288, detection=False)
    after = _run(np.random.default_rng(3), 24, ratio=2.0, state=before)
    robust_after = _run(np.random.default_rng(3), 24, ratio=2.0, state=robust_before, detection=False)
    excess = after.pearson_sum - after.pearson_polls - (before.pearson_sum - before.pearson_polls)
    robust_excess = (
        robust_after.pearson_sum
        - robust_after.pearson_polls
        - (robust_before.pearson_sum - robust_before.pearson_polls)
    )
    assert robust_excess > 2 * max(excess, 1.0), (excess, robust_excess)


def test_the_late_onset_detector_fires_on_a_sustained_2x_but_not_on_one_poll() -> None:
    healthy = _run(np.random.default_rng(4), 288)
    assert healthy.max_log_late < LATE_THRESHOLD
    burst = error_rate.update_whole(healthy, 29_700, 297, 300, 60, horizon=576, robust=True, detection=True)
    assert burst.max_log_late - healthy.max_log_late <= error_rate.POLL_CAP_NATS
    assert burst.max_log_late < LATE_THRESHOLD
    sustained = _run(np.random.default_rng(5), 60, ratio=2.0, state=healthy)
    assert sustained.max_log_late >= LATE_THRESHOLD


def test_binomial_healthy_traffic_stays_below_both_thresholds() -> None:
    state = _run(np.random.default_rng(6), 576)
    assert state.max_log_late < LATE_THRESHOLD
    assert state.max_log_e_fail < np.log(1 / (0.05 * 0.6 * (1 - DETECTION_LATE_SHARE)))


def test_detection_needs_the_robust_judge_and_old_states_serialise_as_before() -> None:
    stable, candidate = Arm(), Arm()

    def start(*, robust: bool, detection: bool = False) -> JudgeState:
        return new_judge_state(
            stable.reading(),
            candidate.reading(),
            method="sequential",
            whole_rollout=True,
            horizon_polls=576,
            robust=robust,
            detection=detection,
        )

    assert start(robust=True, detection=True).detection
    assert not start(robust=False, detection=True).detection
    assert "detection" not in start(robust=True).model_dump_json()
    old = _run(np.random.default_rng(7), 3, detection=False)
    assert "recent_" not in old.model_dump_json()
    assert "recent_" in _run(np.random.default_rng(7), 3).model_dump_json()


def test_only_a_first_step_chooses_the_second_judge() -> None:
    assert judge_rules(first_step=True, carried_whole=False, whole_patch=True, detection_patch=True) == "evidence-2"
    assert judge_rules(first_step=True, carried_whole=False, whole_patch=True) == "evidence"
    assert judge_rules(first_step=True, carried_whole=False, whole_patch=False, detection_patch=True) == "per-step"
    assert judge_rules(first_step=False, carried_whole=True, whole_patch=True, detection_patch=True) == "whole-rollout"


def test_the_split_gives_the_late_detector_more_and_stays_inside_alpha() -> None:
    assert late_share(detection=False) == LATE_SHARE
    assert late_share(detection=True) == DETECTION_LATE_SHARE > LATE_SHARE
    assert 0.0 < DETECTION_LATE_SHARE < 1.0  # the two paths' budgets sum to the criterion's alpha


def test_the_pass_is_read_untilted_so_the_limit_seen_through_wobble_earns_less_of_it() -> None:
    """A candidate whose split sits at the limit times the wobble's tilt: the second judge's pass evidence is lower.

    The tilt (kappa / 2 at kappa's upper bound) keeps a candidate at the limit from drifting into a fail; read on
    the pass side it made the limit look passable (22 % false promotions at a 25 % canary with 30 % wobble).
    """
    passes = {}
    for detection in (False, True):
        state = error_rate.new_error_rate_state(1.2)
        for _ in range(40):  # a 25 % canary at 2 % errors, the candidate at 1.28x stable's rate
            state = error_rate.update_whole(
                state, 30000, 600, 10000, 256, horizon=1153, robust=True, detection=detection
            )
        passes[detection] = error_rate.log_e_values(state.step_log_likelihood)[1]
        fail = error_rate.log_e_values(state.log_likelihood)[0]
        assert fail > 0.0, "the fail side still reads the tilt: some evidence of harm"
    assert passes[True] < passes[False]
