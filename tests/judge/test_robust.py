"""Issue 19's judge (``JudgeState.robust``): evidence that holds on wobbling traffic and matches the exposure."""

from __future__ import annotations

import math

import numpy as np

from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from tests.judge.helpers import Arm
from workflows.judge import Judgement, JudgeState, error_rate, judge, new_judge_state
from workflows.judge.models import ErrorRateTestState
from workflows.judge.whole_rollout import MARGIN_RATIO_CAP

CRITERIA, TRIGGERS = Criteria(), RollbackTriggers()


def _start(stable: Arm, candidate: Arm, *, robust: bool = True, carried: JudgeState | None = None) -> JudgeState:
    return new_judge_state(
        stable.reading(),
        candidate.reading(),
        method="sequential",
        whole_rollout=True,
        alpha_share=0.25,
        horizon_polls=576,
        carried=carried,
        robust=robust,
    )


def _poll(state: JudgeState, stable: Counters, candidate: Counters) -> Judgement:
    return judge(state, stable=stable, candidate=candidate, criteria=CRITERIA, triggers=TRIGGERS)


def _wobbly_run(rng: np.random.Generator, polls: int, *, wobble: float) -> ErrorRateTestState:
    state = error_rate.new_error_rate_state(1.2)
    for _ in range(polls):
        rates = 0.02 * (rng.gamma(1 / wobble**2, wobble**2, size=2) if wobble else np.ones(2))
        state = error_rate.update_whole(
            state,
            22_500,
            int(rng.binomial(22_500, rates[0])),
            7_500,
            int(rng.binomial(7_500, rates[1])),
            horizon=576,
            robust=True,
        )
    return state


def test_the_dispersion_starts_at_the_ceiling_and_learns_binomial_traffic() -> None:
    variance = 600 * 0.25 * 0.75
    fresh = error_rate.new_error_rate_state(1.2)
    assert error_rate.robust_dispersion(fresh, variance) == 1.0 + error_rate.WOBBLE_CEILING * variance
    assert error_rate.robust_dispersion(fresh, variance) > 3 * error_rate.dispersion(fresh, variance)
    binomial = _wobbly_run(np.random.default_rng(3), 200, wobble=0.0)
    assert error_rate.robust_dispersion(binomial, variance) < 4.0


def test_the_dispersion_is_an_upper_bound_under_30_percent_wobble() -> None:
    variance = 600 * 0.25 * 0.75
    truth = 1.0 + 2 * 0.3**2 * variance
    wobbly = _wobbly_run(np.random.default_rng(5), 40, wobble=0.3)
    assert error_rate.robust_dispersion(wobbly, variance) > 0.8 * truth
    # The quasi-likelihood factor of the per-step judge is far below the truth this early.
    assert error_rate.dispersion(wobbly, variance) < error_rate.robust_dispersion(wobbly, variance)


def test_one_bursty_poll_adds_at_most_the_cap_to_every_test() -> None:
    state = error_rate.new_error_rate_state(1.2)
    burst = error_rate.update_whole(state, 29_700, 3, 300, 60, horizon=576, robust=True)
    assert max(burst.log_likelihood) <= error_rate.POLL_CAP_NATS
    assert burst.max_log_late <= error_rate.POLL_CAP_NATS
    assert burst.max_log_late < error_rate.late_log_threshold(576, 0.05 * 0.6 * 0.2)
    unbounded = error_rate.update_whole(state, 29_700, 3, 300, 60, horizon=576)
    assert unbounded.max_log_late > error_rate.POLL_CAP_NATS


def test_the_hard_error_trigger_needs_more_than_one_poll() -> None:
    """The issue's case: a new step's first analysis, stable 0/52,740 against candidate 106/52,697."""
    stable, candidate = Arm(), Arm()
    for robust, expected in ((False, True), (True, False)):
        state = _start(stable, candidate, robust=robust)
        judgement = _poll(
            state,
            Counters(requests=stable.requests + 52_740, errors=stable.errors),
            Counters(requests=candidate.requests + 52_697, errors=candidate.errors + 106),
        )
        assert judgement.triggers[0].breached is expected, judgement.triggers[0]


def test_the_hard_error_trigger_fires_on_sustained_evidence() -> None:
    stable, candidate = Arm(), Arm()
    state = _start(stable, candidate)
    for _ in range(12):
        judgement = _poll(state, stable.serve(22_500, error_rate=0.01), candidate.serve(7_500, error_rate=0.05))
        state = judgement.state
        if judgement.decision == "rollback":
            break
    assert judgement.decision == "rollback"
    assert judgement.triggers[0].breached


def test_a_pass_is_earned_again_at_every_step() -> None:
    stable, candidate = Arm(), Arm()
    state = _start(stable, candidate)
    for _ in range(60):
        judgement = _poll(state, stable.serve(30_000, error_rate=0.01), candidate.serve(1_500, error_rate=0.01))
        state = judgement.state
    assert judgement.criteria[0].verdict == "pass"
    # The next step, with the candidate now at twice stable's error rate: the earlier pass does not carry over.
    state = _start(stable, candidate, carried=state)
    assert state.sequential is not None and state.sequential.error_rate is not None
    assert state.sequential.error_rate.step_log_likelihood == []
    verdicts = []
    for _ in range(24):
        judgement = _poll(state, stable.serve(22_500, error_rate=0.01), candidate.serve(7_500, error_rate=0.02))
        state = judgement.state
        verdicts.append(judgement.criteria[0].verdict)
    assert "pass" not in verdicts
    assert verdicts[-1] == "fail"


def test_the_per_step_pass_is_lost_when_the_step_turns() -> None:
    stable, candidate = Arm(), Arm()
    state = _start(stable, candidate)
    for _ in range(30):
        judgement = _poll(state, stable.serve(22_500, error_rate=0.01), candidate.serve(7_500, error_rate=0.01))
        state = judgement.state
    assert judgement.criteria[0].verdict == "pass"
    for _ in range(30):
        judgement = _poll(state, stable.serve(22_500, error_rate=0.01), candidate.serve(7_500, error_rate=0.03))
        state = judgement.state
    assert judgement.criteria[0].verdict != "pass"


def test_the_margin_does_not_forgive_2x_at_a_low_base_rate() -> None:
    """Stable at 0.1 %, candidate at 0.2 %: within the default 0.001 margin, but twice stable's rate."""
    outcomes = {}
    for robust in (False, True):
        stable, candidate = Arm(), Arm()
        state = _start(stable, candidate, robust=robust)
        outcome = "none"
        for _ in range(576):
            judgement = _poll(state, stable.serve(22_500, error_rate=0.001), candidate.serve(7_500, error_rate=0.002))
            state = judgement.state
            if judgement.criteria[0].verdict in ("fail", "pass"):
                outcome = judgement.criteria[0].verdict
                break
        outcomes[robust] = (outcome, judgement.criteria[0].note)
    assert outcomes[False][0] != "fail"
    assert outcomes[True][0] == "fail", outcomes[True]
    assert f"above {MARGIN_RATIO_CAP:g}x" in outcomes[True][1]


def test_the_margin_still_passes_a_service_without_errors() -> None:
    stable, candidate = Arm(), Arm()
    state = _start(stable, candidate)
    for _ in range(48):
        judgement = _poll(state, stable.serve(30_000, error_rate=0.0), candidate.serve(1_500, error_rate=0.0))
        state = judgement.state
    assert judgement.criteria[0].verdict == "pass"


def test_log_e_beyond_is_the_main_mixture_at_the_limit() -> None:
    state = error_rate.update_whole(error_rate.new_error_rate_state(1.2), 22_500, 225, 7_500, 150, horizon=576)
    value, share = error_rate.log_e_beyond(state.log_likelihood, 1.2, 1.2)
    assert math.isclose(share, 1.0)
    assert math.isclose(value, error_rate.log_e_values(state.log_likelihood)[0])
    above, part = error_rate.log_e_beyond(state.log_likelihood, 2.0, 1.2)
    assert 0.0 < part < 1.0
    # The sub-mixture times its share never exceeds the whole mixture: its rejections are the main test's.
    assert above + math.log(part) <= value + 1e-9


def test_robust_needs_the_whole_rollout_judge_and_old_states_serialise_as_before() -> None:
    stable, candidate = Arm(), Arm()
    per_step = new_judge_state(stable.reading(), candidate.reading(), method="sequential", robust=True)
    assert per_step.robust is False
    assert "robust" not in per_step.model_dump_json()
    state = _start(stable, candidate, robust=False)
    judgement = _poll(state, stable.serve(30_000), candidate.serve(1_500))
    dumped = judgement.state.model_dump_json()
    assert "step_log_likelihood" not in dumped
    assert JudgeState.model_validate_json(dumped) == judgement.state
