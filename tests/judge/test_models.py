"""The judge's models survive JSON (workflow history, continue-as-new) and its state stays small."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.judge.helpers import Arm, poll, start
from workflows.judge import Judgement, JudgeMethod, JudgeState


@pytest.mark.parametrize("method", ["threshold", "sequential"])
def test_state_size_does_not_grow_with_polls(method: JudgeMethod) -> None:
    stable, candidate = Arm(), Arm()
    state = start(method, stable, candidate)
    sizes = []
    for _ in range(60):
        state = poll(state, stable.serve(30_000), candidate.serve(300)).state
        sizes.append(len(state.model_dump_json()))
    assert max(sizes[10:]) <= sizes[10] * 1.2  # only the widths of the numbers change
    assert sizes[-1] < 16_000


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from(["threshold", "sequential"]),
    batches=st.lists(
        st.tuples(
            st.integers(0, 40_000),
            st.integers(0, 2_000),
            st.floats(0.0, 0.1),
            st.floats(0.5, 3.0),
            st.floats(0.0, 1.0),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_judgement_and_state_round_trip_through_json(
    method: JudgeMethod, batches: list[tuple[int, int, float, float, float, bool]]
) -> None:
    stable, candidate = Arm(), Arm()
    state = start(method, stable, candidate)
    for stable_n, candidate_n, error_rate, scale, quality, restart in batches:
        if restart and candidate_n < candidate.requests:
            candidate = Arm()
        judgement = poll(
            state,
            stable.serve(stable_n),
            candidate.serve(candidate_n, error_rate=error_rate, latency_scale=scale, quality=quality),
        )
        assert Judgement.model_validate_json(judgement.model_dump_json()) == judgement
        state = JudgeState.model_validate_json(judgement.state.model_dump_json())
        assert state == judgement.state


def test_infinite_bound_survives_json() -> None:
    stable, candidate = Arm(), Arm()
    state = start("sequential", stable, candidate)
    state = poll(state, stable.serve(30_000), candidate.serve(300)).state
    again = JudgeState.model_validate_json(state.model_dump_json())
    assert math.isinf(again.stable.latency_bounds[-1])
    assert math.isinf(again.last_stable.latency_ms_buckets[-1][0])


def test_models_are_frozen() -> None:
    stable, candidate = Arm(), Arm()
    state = start("threshold", stable, candidate)
    with pytest.raises(ValueError, match="frozen"):
        state.polls = 3
