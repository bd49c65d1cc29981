"""workflows.drift (PSI, JS, windows, which features moved), the simulator's populations, the criterion's bounds."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from models.counters import Counters
from models.criteria import Criteria
from simulator.inputs import BASE, FEATURES, SHIFTED, features_of, mix, sample_body
from simulator.knobs import VersionKnobs
from simulator.traffic import VersionCounters
from workflows import drift

SAME = {"language": {"en": 700, "ja": 300}, "tool_use": {"no": 800, "yes": 200}}


def test_identical_distributions_do_not_drift() -> None:
    report = drift.compare(SAME, SAME, limit=0.2, min_count=500)
    assert report.measured and not report.moved
    assert all(f.score == pytest.approx(0.0, abs=1e-12) for f in report.features)


def test_only_the_feature_that_moved_is_reported() -> None:
    candidate = {"language": {"en": 300, "ja": 700}, "tool_use": {"no": 790, "yes": 210}}
    report = drift.compare(SAME, candidate, limit=0.2, min_count=500)
    assert [f.feature for f in report.moved] == ["language"]
    assert report.moved[0].biggest in ("en 70% -> 30%", "ja 30% -> 70%")
    assert report.line().startswith("language psi")


def test_too_few_requests_are_not_judged() -> None:
    candidate = {"language": {"en": 30, "ja": 70}}
    report = drift.compare(SAME, candidate, limit=0.2, min_count=500)
    assert not report.moved and "too few requests for language" in report.line()


def test_a_value_seen_by_one_version_only_counts() -> None:
    candidate = {"language": {"en": 500, "ja": 300, "de": 200}}
    assert drift.compare(SAME, candidate, limit=0.2, min_count=500, only=["language"]).moved


def test_psi_and_js_known_values() -> None:
    assert drift.psi([50, 50], [50, 50]) == 0.0
    # sum((q - p) ln(q / p)) over (0.5, 0.5) -> (0.9, 0.1): 0.4 ln 1.8 + (-0.4) ln 0.2
    assert drift.psi([50, 50], [90, 10]) == pytest.approx(0.4 * math.log(1.8) - 0.4 * math.log(0.2))
    assert drift.js([1, 0], [0, 1]) == pytest.approx(1.0)
    assert drift.js([5, 5], [5, 5]) == pytest.approx(0.0)


@given(
    st.lists(st.integers(1, 10_000), min_size=2, max_size=6).flatmap(
        lambda a: st.tuples(st.just(a), st.lists(st.integers(1, 10_000), min_size=len(a), max_size=len(a)))
    )
)
def test_divergences_are_symmetric_non_negative_and_js_bounded(pair: tuple[list[int], list[int]]) -> None:
    p, q = pair
    assert drift.psi(p, q) >= 0 and drift.psi(p, q) == pytest.approx(drift.psi(q, p))
    assert 0 <= drift.js(p, q) <= 1 + 1e-12 and drift.js(p, q) == pytest.approx(drift.js(q, p))


def test_window_subtracts_and_treats_a_decrease_as_a_restart() -> None:
    before = {"language": {"en": 100, "ja": 10}}
    assert drift.window(before, {"language": {"en": 150, "ja": 30}}) == {"language": {"en": 50, "ja": 20}}
    assert drift.window(before, {"language": {"en": 5, "ja": 1}}) == {"language": {"en": 5, "ja": 1}}
    assert drift.window({}, {"tool_use": {"no": 3}}) == {"tool_use": {"no": 3}}


def test_the_simulators_shifted_population_moves_length_and_language_not_tool_use() -> None:
    stable, canary = VersionCounters(), VersionCounters()
    rng = random.Random(1)
    stable.add_batch(rng, 20_000, VersionKnobs())
    canary.add_batch(rng, 20_000, VersionKnobs(input_shift=0.8))
    report = drift.compare(stable.snapshot().inputs, canary.snapshot().inputs, limit=0.2, min_count=500, method="psi")
    assert sorted(f.feature for f in report.moved) == ["language", "prompt_length"]
    assert mix(0.0) == BASE and mix(1.0) == SHIFTED
    assert all(sum(p) == pytest.approx(1.0) for p in mix(0.3).values())


def test_a_real_request_is_classified_by_its_body() -> None:
    assert features_of({"prompt": "hi"}) == {"prompt_length": "short", "language": "en", "tool_use": "no"}
    assert features_of({"prompt": "x" * 5000, "language": "ja", "tools": [{}]}) == {
        "prompt_length": "long",
        "language": "ja",
        "tool_use": "yes",
    }
    assert features_of({"prompt": 3, "language": "klingon"})["language"] == "other"
    body = sample_body(random.Random(0), 1.0, 7)
    assert set(features_of(body)) == set(FEATURES)


def test_counters_without_inputs_serialize_as_before() -> None:
    assert "inputs" not in Counters(requests=1, errors=0).model_dump_json()
    assert '"inputs"' in Counters(requests=1, errors=0, inputs={"language": {"en": 1}}).model_dump_json()


@pytest.mark.parametrize(
    "criterion",
    [{"limit": 0}, {"limit": 11}, {"min_count": 0}, {"on_drift": "ignore"}, {"method": "kl"}, {"features": ["a b"]}],
)
def test_the_criterion_is_bounded(criterion: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="input_drift"):
        Criteria.model_validate({"input_drift": criterion})


def test_the_criterion_is_off_by_default() -> None:
    assert Criteria().input_drift is None
