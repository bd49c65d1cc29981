"""Issue 19's third judge (``JudgeState.third``): kappa's score bound, restarts weighted to the planned polls, and
the absolute margin's pass only where the ratio does not bind."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.criteria import Criteria
from tests.judge.helpers import Arm
from workflows.judge import JudgeState, error_rate, new_judge_state
from workflows.judge.increments import Increment
from workflows.judge.models import ArmTotals, ErrorRateTestState, SequentialState
from workflows.judge.whole_rollout import error_rate_whole
from workflows.rollout.analysis import judge_rules


def _wobbling(seed: int, polls: int, *, wobble: float = 0.3, third: bool = True) -> ErrorRateTestState:
    """A 5 % canary at 2 % errors, both versions' rates wobbling by ``wobble`` per poll (gamma, mean 1)."""
    rng = np.random.default_rng(seed)
    state = error_rate.new_error_rate_state(1.2)
    for _ in range(polls):
        factors = rng.gamma(1 / wobble**2, wobble**2, size=2) if wobble else np.ones(2)
        state = error_rate.update_whole(
            state,
            28_500,
            int(rng.binomial(28_500, min(1.0, 0.02 * factors[0]))),
            1_500,
            int(rng.binomial(1_500, min(1.0, 0.02 * factors[1]))),
            horizon=1153,
            robust=True,
            detection=True,
            third=third,
        )
    return state


def _spread(state: ErrorRateTestState, kappa: float) -> float:
    return state.pearson_polls + 2 * kappa * state.variance_sum + kappa * kappa * state.variance_square_sum


@pytest.mark.parametrize("seed", range(6))
def test_the_score_bound_solves_its_equation_and_is_never_below_the_wald_one(seed: int) -> None:
    state = _wobbling(seed, 1 + seed * 3)
    variance = 34.0
    bound = error_rate.score_kappa(state, variance)
    wald = error_rate.robust_kappa(state, variance)
    estimate = error_rate.score_kappa(state, variance, margin_scale=0.0)
    assert bound >= wald - 1e-12
    assert estimate == pytest.approx(error_rate.robust_kappa(state, variance, margin_scale=0.0))
    weight = error_rate.CEILING_PRIOR_POLLS * state.variance_sum / state.pearson_polls + state.variance_sum
    margin = error_rate.SCORE_Z * math.sqrt(2 * _spread(state, bound)) / weight
    assert bound - estimate == pytest.approx(margin, rel=1e-6)


def test_the_score_bound_does_not_collapse_when_the_first_polls_come_out_calm() -> None:
    """Where the estimate is low by chance its Wald standard error is low too; the score bound's is not."""
    calm_seeds = []
    for seed in range(200):
        state = _wobbling(seed, 4)
        if error_rate.score_kappa(state, 34.0, margin_scale=0.0) < 0.06:
            calm_seeds.append(seed)
    assert calm_seeds, "some wobbling starts look calm (the case the bound is for)"
    for seed in calm_seeds:
        state = _wobbling(seed, 4)
        gain = error_rate.score_kappa(state, 34.0) - error_rate.robust_kappa(state, 34.0)
        assert gain > 0.0
    # Binomial traffic keeps a bound close to the Wald one: the inflation multiplies the (small) estimate.
    binomial = _wobbling(1, 60, wobble=0.0)
    assert error_rate.score_kappa(binomial, 34.0) - error_rate.robust_kappa(binomial, 34.0) < 0.01


def test_the_restart_weights_sum_to_the_horizon_so_the_threshold_is_unchanged() -> None:
    for horizon in (1, 2, 3, 577, 1153):
        total = sum(math.exp(error_rate.late_start_log_weight(start, horizon)) for start in range(horizon))
        assert total == pytest.approx(horizon)
    planned, extension = error_rate.late_start_log_weight(0, 1153), error_rate.late_start_log_weight(900, 1153)
    assert planned == pytest.approx(math.log(2 * 0.9 * 1153 / 1152))
    assert extension < 0.0 < planned


def test_a_sustained_late_regression_is_found_earlier_than_by_the_second_judge() -> None:
    """The same polls through both judges' late-onset detectors: the third's restarts on schedule weigh more."""
    values = {}
    for third in (False, True):
        rng = np.random.default_rng(11)
        state = error_rate.new_error_rate_state(1.2)
        for poll in range(300):
            candidate = int(rng.binomial(300, 0.02 if poll >= 288 else 0.01))
            state = error_rate.update_whole(
                state, 29_700, int(rng.binomial(29_700, 0.01)), 300, candidate, horizon=1153, robust=True,
                detection=True, third=third,
            )  # fmt: skip
        values[third] = state.max_log_late
    # The restart weight (0.59 nats) less what the score bound's slightly larger discount costs at 3 errors a poll.
    assert values[True] > values[False] + 0.3


def _one_poll(stable: tuple[int, int], candidate: tuple[int, int], *, third: bool) -> str:
    """The error criterion's verdict after one poll of (requests, errors) per version."""
    state = SequentialState()
    stable_step, candidate_step = (
        Increment(n, e, None, (), 0, 0.0, 0.0, 0, reset=False, layout_changed=False) for n, e in (stable, candidate)
    )
    steps = (stable_step, candidate_step)
    totals = (ArmTotals(requests=stable[0], errors=stable[1]), ArmTotals(requests=candidate[0], errors=candidate[1]))
    result, _, _ = error_rate_whole(
        state,
        (ArmTotals(), ArmTotals()),
        steps,
        totals,
        Criteria(),
        alpha=0.03,
        alpha_share=1.0,
        horizon=1153,
        evidence=False,
        robust=True,
        detection=True,
        third=third,
    )
    return result.verdict


def test_the_margin_passes_only_where_the_ratio_does_not_bind() -> None:
    # 2 % errors on stable: the ratio is the binding limit (0.2 x 2 % > the 0.001 margin). A calm first poll of a
    # candidate whose rate wobbled low passes the margin; one poll cannot pass the ratio (capped at 2.5 nats).
    busy = ((300_000, 6_000), (100_000, 1_500))
    assert _one_poll(*busy, third=False) == "pass"
    assert _one_poll(*busy, third=True) == "inconclusive"
    # No errors at all: the margin is all there is, and it still passes.
    clean = ((300_000, 0), (100_000, 0))
    assert _one_poll(*clean, third=False) == _one_poll(*clean, third=True) == "pass"


def test_the_third_judge_needs_the_second_and_old_states_serialise_as_before() -> None:
    stable, candidate = Arm(), Arm()

    def start(*, detection: bool, third: bool) -> JudgeState:
        return new_judge_state(
            stable.reading(),
            candidate.reading(),
            method="sequential",
            whole_rollout=True,
            horizon_polls=1153,
            robust=True,
            detection=detection,
            third=third,
        )

    assert start(detection=True, third=True).third
    assert not start(detection=False, third=True).third
    assert "third" not in start(detection=True, third=False).model_dump_json()


def test_only_a_first_step_under_both_patches_chooses_the_third_judge() -> None:
    first = {"first_step": True, "carried_whole": False, "whole_patch": True}
    assert judge_rules(**first, detection_patch=True, third_patch=True) == "evidence-3"
    assert judge_rules(**first, detection_patch=True) == "evidence-2"
    assert judge_rules(**first, third_patch=True) == "evidence"
    later = {"first_step": False, "carried_whole": True, "whole_patch": True}
    assert judge_rules(**later, detection_patch=True, third_patch=True) == "whole-rollout"


def test_a_candidate_at_the_limit_under_wobble_builds_less_fail_evidence_than_under_the_second_judge() -> None:
    """The 1.2x boundary at a 5 % canary with 30 % wobble, the first 24 polls (where its false rollbacks were)."""

    def worst(third: bool) -> list[float]:
        values = []
        for seed in range(40):
            rng = np.random.default_rng(seed)
            state = error_rate.new_error_rate_state(1.2)
            for _ in range(24):
                factors = rng.gamma(1 / 0.09, 0.09, size=2)
                state = error_rate.update_whole(
                    state, 28_500, int(rng.binomial(28_500, 0.02 * factors[0])), 1_500,
                    int(rng.binomial(1_500, min(1.0, 0.024 * factors[1]))), horizon=1153, robust=True,
                    detection=True, third=third,
                )  # fmt: skip
            values.append(state.max_log_e_fail)
        return values

    second, third = worst(False), worst(True)
    assert sum(third) < sum(second)
    assert sum(b <= a for a, b in zip(second, third, strict=True)) >= 30


@pytest.mark.parametrize(
    ("third", "large_cap"), [(False, error_rate.POLL_CAP_NATS), (True, error_rate.LARGE_POLL_CAP_NATS)]
)
def test_one_large_poll_adds_at_most_its_clip_and_a_small_one_keeps_the_second_judges(
    third: bool, large_cap: float
) -> None:
    calm = _wobbling(3, 30, wobble=0.0, third=third)
    # A 25 % canary's poll (binomial variance about 110) with the candidate at 3x: far beyond any clip.
    large = error_rate.update_whole(
        calm, 22_500, 450, 7_500, 450, horizon=1153, robust=True, detection=True, third=third
    )
    assert max(new - old for new, old in zip(large.log_likelihood, calm.log_likelihood, strict=True)) == (
        pytest.approx(large_cap)
    )
    # A 1 % canary's poll (variance about 5) with a burst of candidate errors: the second judge's clip.
    small = error_rate.update_whole(calm, 29_700, 297, 300, 40, horizon=1153, robust=True, detection=True, third=third)
    assert max(new - old for new, old in zip(small.log_likelihood, calm.log_likelihood, strict=True)) == (
        pytest.approx(error_rate.POLL_CAP_NATS)
    )
