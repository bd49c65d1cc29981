"""The preflight baseline is the operators': an operators' target locks it, a spec cannot choose it (pure)."""

from __future__ import annotations

from typing import Any

from models.targets import ChosenTarget, Target
from tests.unit.test_targets import SIM, spec
from workflows.targets import preflight_baseline_problem

PREFLIGHT = {"url": "http://127.0.0.1:9101/v1/score"}


def chosen(origin: Any = "policy", **target: Any) -> ChosenTarget:
    return ChosenTarget(name="prod", origin=origin, target=Target.model_validate({**SIM, **target}, strict=False))


def test_a_spec_baseline_must_be_the_one_the_target_locks() -> None:
    locked = chosen(preflight_baseline=0.8)
    assert preflight_baseline_problem(spec(preflight={**PREFLIGHT, "baseline": 0.8}), locked) is None
    lower = preflight_baseline_problem(spec(preflight={**PREFLIGHT, "baseline": 0.5}), locked)
    assert lower is not None and lower.startswith("preflight.baseline: 0.5 differs") and "(0.8)" in lower


def test_an_operators_target_without_a_locked_baseline_has_no_preflight_gate() -> None:
    problem = preflight_baseline_problem(spec(preflight={**PREFLIGHT, "baseline": 0.5}), chosen())
    assert problem is not None and "locks no preflight_baseline" in problem
    assert preflight_baseline_problem(spec(), chosen()) is None, "no preflight: nothing to lock"


def test_an_inline_target_keeps_the_specs_baseline() -> None:
    inline = spec(preflight={**PREFLIGHT, "baseline": 0.5})
    assert preflight_baseline_problem(inline, chosen(origin="inline-policy")) is None
    assert preflight_baseline_problem(inline, chosen(origin="inline-lab")) is None


def test_the_locked_baseline_stays_out_of_a_targets_json_until_set() -> None:
    assert "preflight_baseline" not in chosen().model_dump(mode="json")["target"]
    assert chosen(preflight_baseline=0.8).model_dump(mode="json")["target"]["preflight_baseline"] == 0.8
