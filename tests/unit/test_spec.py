"""models.spec.validate_spec: the shipped examples, the defaults, and problems reported all at once."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.criteria import Criteria, RollbackTriggers
from models.spec import (
    ExactCompare,
    HttpJsonMetrics,
    HttpRouter,
    JsonFieldsCompare,
    RolloutSpec,
    SpecError,
    criteria_fingerprint,
    validate_spec,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def minimal() -> dict[str, Any]:
    return {
        "service": "support-assistant",
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "http", "url": "http://127.0.0.1:9100/routes/x"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/x"},
    }


def problems_of(data: object) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    assert str(info.value).startswith("invalid rollout spec")
    return info.value.problems


# ---------------------------------------------------------------- shipped examples


def test_support_assistant_example_validates() -> None:
    spec = validate_spec(json.loads((EXAMPLES / "support-assistant-v2.json").read_text()))
    assert spec.service == "support-assistant"
    assert (spec.stable.version, spec.candidate.version) == ("v1", "v2")
    assert [s.weight for s in spec.steps] == [1, 5, 25, 50]
    assert spec.total_observation == timedelta(hours=48)
    assert spec.steps[-1].approval is True
    assert spec.approvals is not None
    assert spec.approvals.quorum == 2
    assert spec.shadow is not None
    assert spec.shadow.compare == JsonFieldsCompare(kind="json-fields", fields=["answer"])
    assert spec.candidate.manifest["model"] == "gpt-4o-mini-2024-07-18"


def test_demo_example_validates() -> None:
    spec = validate_spec((EXAMPLES / "demo-rollout.json").read_text())
    assert spec.total_observation == timedelta(seconds=150)
    assert spec.analysis_interval == timedelta(seconds=5)
    assert spec.criteria.min_requests == 2000
    assert spec.criteria.quality_drop_max == 0.02  # unspecified criteria keep their defaults
    assert spec.approvals is not None
    assert spec.approvals.timeout == timedelta(minutes=15)


def test_bytes_input_is_parsed() -> None:
    spec = validate_spec(json.dumps(minimal()).encode())
    assert spec.service == "support-assistant"


# ---------------------------------------------------------------- defaults


def test_defaults_when_steps_criteria_and_triggers_are_omitted() -> None:
    spec = validate_spec(minimal())
    assert [(s.weight, s.observe, s.approval) for s in spec.steps] == [
        (1, timedelta(hours=4), False),
        (5, timedelta(hours=8), False),
        (25, timedelta(hours=12), False),
        (50, timedelta(hours=24), False),
    ]
    assert spec.total_observation == timedelta(hours=48)
    assert spec.analysis_interval == timedelta(minutes=5)
    c = spec.criteria
    assert (c.quality_drop_max, c.latency_p95_ratio_max, c.error_rate_ratio_max, c.min_requests) == (
        0.02,
        1.1,
        1.2,
        500,
    )
    assert (spec.rollback_triggers.error_rate_ratio, spec.rollback_triggers.latency_p95_ratio) == (2.0, 1.5)
    assert spec.approvals is None
    assert spec.preflight is None
    assert spec.shadow is None
    assert spec.analysis_failures.max_consecutive == 3
    assert spec.analysis_failures.action == "rollback"
    assert isinstance(spec.router, HttpRouter)
    assert isinstance(spec.metrics, HttpJsonMetrics)


def test_default_steps_are_not_shared_between_specs() -> None:
    a, b = validate_spec(minimal()), validate_spec(minimal())
    assert a.steps == b.steps
    assert a.steps is not b.steps


def test_shadow_defaults() -> None:
    data = minimal()
    data["stable"]["endpoint"] = "http://127.0.0.1:9101"
    data["candidate"]["endpoint"] = "http://127.0.0.1:9102"
    data["shadow"] = {"requests_file": "r.jsonl"}
    shadow = validate_spec(data).shadow
    assert shadow is not None
    assert shadow.compare == ExactCompare(kind="exact")
    assert (shadow.max_requests, shadow.concurrency, shadow.min_agreement) == (200, 8, 0.9)
    assert shadow.request_timeout == timedelta(seconds=10)


def test_durations_in_the_spec_dump_in_short_form() -> None:
    data = minimal()
    data["steps"] = [{"weight": 10, "observe": "PT90M"}]
    data["analysis_interval"] = 60
    dumped = validate_spec(data).model_dump(mode="json")
    assert dumped["steps"][0]["observe"] == "1h30m"
    assert dumped["analysis_interval"] == "1m"


def test_dumped_spec_validates_again_to_the_same_spec() -> None:
    spec = validate_spec(json.loads((EXAMPLES / "support-assistant-v2.json").read_text()))
    assert validate_spec(spec.model_dump(mode="json")) == spec


# ---------------------------------------------------------------- not an object


@pytest.mark.parametrize(("data", "type_name"), [([1], "list"), (None, "NoneType"), (3, "int"), ("[1, 2]", "list")])
def test_non_object_is_one_problem(data: object, type_name: str) -> None:
    assert problems_of(data) == [f"(spec): expected a JSON object, got {type_name}"]


def test_text_that_is_not_json() -> None:
    (problem,) = problems_of("{not json")
    assert problem.startswith("(spec): not JSON:")


def test_empty_object_names_every_required_field() -> None:
    problems = problems_of({})
    for name in ("service", "requested_by", "stable", "candidate", "router", "metrics"):
        assert f"{name}: missing" in problems
    assert len(problems) == 6


# ---------------------------------------------------------------- one problem at a time


def with_(**changes: Any) -> dict[str, Any]:
    data = minimal()
    data.update(copy.deepcopy(changes))
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            with_(steps=[{"weight": 10, "observe": "1h"}, {"weight": 10, "observe": "1h"}]),
            "steps[1].weight: weights must strictly increase (10 then 10)",
        ),
        (
            with_(steps=[{"weight": 20, "observe": "1h"}, {"weight": 5, "observe": "1h"}]),
            "steps[1].weight: weights must strictly increase (20 then 5)",
        ),
        (with_(steps=[{"weight": 0, "observe": "1h"}]), "steps[0].weight: Input should be greater than 0"),
        (with_(steps=[{"weight": 100, "observe": "1h"}]), "steps[0].weight: Input should be less than 100"),
        (with_(steps=[{"weight": 150, "observe": "1h"}]), "steps[0].weight: Input should be less than 100 (got 150)"),
        (with_(steps=[{"weight": 5, "observe": "0s"}]), "steps[0].observe: must be longer than 0 (got 0s)"),
        (with_(steps=[{"weight": 5, "observe": -60}]), "steps[0].observe: must be longer than 0 (got -1m)"),
        (with_(steps=[]), "steps: List should have at least 1 item after validation, not 0"),
        (with_(steps=[{"weight": 5}]), "steps[0].observe: missing"),
        (
            with_(approvals={"approvers": ["bob", "carol"], "quorum": 3}),
            "approvals.quorum: 3 is more than the 2 distinct approvers listed",
        ),
        (
            with_(approvals={"approvers": ["bob", "carol", "alice"], "quorum": 3}),
            "approvals: requested_by 'alice' never counts as an approver, so the other 2 approver(s) cannot reach "
            "quorum 3",
        ),
        (with_(approvals={"approvers": ["bob", "bob"]}), "approvals.approvers: lists a name more than once"),
        (with_(approvals={"approvers": ["bob"], "timeout": "0s"}), "approvals.timeout: must be longer than 0"),
        (
            with_(approvals={"approvers": []}),
            "approvals.approvers: List should have at least 1 item after validation, not 0",
        ),
        (
            with_(router={"kind": "istio", "url": "http://x"}),
            "router.kind: unknown provider kind 'istio' (expected one of: 'http', 'nginx')",
        ),
        (with_(router={"url": "http://x"}), 'router.kind: missing (say which provider, e.g. "kind": "http")'),
        (
            with_(metrics={"kind": "statsd", "url": "http://x"}),
            "metrics.kind: unknown provider kind 'statsd' (expected one of: 'http-json', 'prometheus')",
        ),
        (
            with_(metrics={"kind": "http-json", "url": "not a url"}),
            "metrics.url: 'not a url' is not an http(s) URL with a host",
        ),
        (
            with_(router={"kind": "http", "url": "ftp://host/x"}),
            "router.url: 'ftp://host/x' is not an http(s) URL with a host",
        ),
        (
            with_(router={"kind": "http", "url": "http:///x"}),
            "router.url: 'http:///x' is not an http(s) URL with a host",
        ),
        (with_(router={"kind": "http", "url": "http://h:99999/"}), "router.url: 'http://h:99999/' has an invalid port"),
        (
            with_(stable={"version": "v1", "endpoint": "localhost:9101"}),
            "stable.endpoint: 'localhost:9101' is not an http(s) URL with a host",
        ),
        (with_(colour="blue"), "colour: unknown field (check the spelling)"),
        (
            with_(router={"kind": "http", "url": "http://x", "weight": 1}),
            "router.weight: unknown field (check the spelling)",
        ),
        (
            with_(analysis_interval="2h", steps=[{"weight": 5, "observe": "1h"}, {"weight": 10, "observe": "3h"}]),
            "analysis_interval: 2h is longer than the shortest step (1h), which would then never be analysed",
        ),
        (with_(analysis_interval="0s"), "analysis_interval: must be longer than 0 (got 0s)"),
        (with_(candidate={"version": "v1"}), "candidate.version: same as stable ('v1')"),
        (
            with_(steps=[{"weight": 5, "observe": "1h", "approval": True}]),
            "approvals: missing, but a step asks for approval",
        ),
        (
            with_(service="Support_Assistant"),
            "service: String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$' (got 'Support_Assistant')",
        ),
        (
            with_(shadow={"requests_file": "r.jsonl", "compare": {"kind": "fuzzy"}}),
            "shadow.compare.kind: unknown provider kind 'fuzzy' (expected one of: 'exact', 'json-fields', "
            "'numeric-tolerance', 'text-similarity')",
        ),
        (
            with_(criteria={"quality_drop_max": 2}),
            "criteria.quality_drop_max: Input should be less than or equal to 1 (got 2)",
        ),
        (
            with_(rollback_triggers={"error_rate_ratio": 1}),
            "rollback_triggers.error_rate_ratio: Input should be greater than 1",
        ),
        (
            with_(analysis_interval="soon"),
            'analysis_interval: \'soon\' is not a duration: write e.g. "90s", "30m", "4h", "2d" or "PT4H"',
        ),
    ],
)
def test_single_problem(data: dict[str, Any], expected: str) -> None:
    problems = problems_of(data)
    assert expected in problems
    # shadow without endpoints is the only rule that adds a second line for the same cause
    if "shadow" not in data:
        assert len(problems) == 1, problems


def test_shadow_without_endpoints_names_both_sides() -> None:
    problems = problems_of(with_(shadow={"requests_file": "r.jsonl"}))
    assert problems == [
        "stable.endpoint: missing, but shadow comparison needs it",
        "candidate.endpoint: missing, but shadow comparison needs it",
    ]


def test_shadow_with_one_endpoint_names_the_other() -> None:
    data = with_(shadow={"requests_file": "r.jsonl"}, stable={"version": "v1", "endpoint": "http://s"})
    assert problems_of(data) == ["candidate.endpoint: missing, but shadow comparison needs it"]


def test_approval_step_with_approvals_is_valid() -> None:
    spec = validate_spec(
        with_(
            steps=[{"weight": 5, "observe": "1h", "approval": True}],
            approvals={"approvers": ["bob", "carol", "alice"], "quorum": 2},
        )
    )
    assert spec.approvals is not None
    assert spec.approvals.approvers == ["bob", "carol", "alice"]


def test_analysis_interval_equal_to_shortest_step_is_valid() -> None:
    spec = validate_spec(with_(analysis_interval="1h", steps=[{"weight": 5, "observe": "1h"}]))
    assert spec.analysis_interval == timedelta(hours=1)


# ---------------------------------------------------------------- many problems at once


def test_many_bad_fields_are_all_listed() -> None:
    data = minimal()
    data.update(
        {
            "colour": "blue",
            "stable": {"version": "v1"},
            "candidate": {"version": "v1"},
            "router": {"kind": "istio", "url": "http://x"},
            "metrics": {"kind": "http-json", "url": "not a url"},
            "steps": [
                {"weight": 10, "observe": "1m"},
                {"weight": 5, "observe": "0s"},
                {"weight": 50, "observe": "2m", "approval": True},
            ],
            "analysis_interval": "10m",
            "shadow": {"requests_file": "r.jsonl"},
        }
    )
    problems = problems_of(data)
    expected = [
        "router.kind: unknown provider kind 'istio' (expected one of: 'http', 'nginx')",
        "metrics.url: 'not a url' is not an http(s) URL with a host",
        "colour: unknown field (check the spelling)",
        "steps[1].weight: weights must strictly increase (10 then 5)",
        "steps[1].observe: must be longer than 0 (got 0s)",
        "approvals: missing, but a step asks for approval",
        "analysis_interval: 10m is longer than the shortest step (1m), which would then never be analysed",
        "candidate.version: same as stable ('v1')",
        "stable.endpoint: missing, but shadow comparison needs it",
        "candidate.endpoint: missing, but shadow comparison needs it",
    ]
    assert sorted(problems) == sorted(expected)
    with pytest.raises(SpecError, match=r"\(10 problems\)"):
        validate_spec(data)


def test_field_errors_and_approval_relations_are_listed_together() -> None:
    data = with_(
        requested_by="alice",
        approvals={"approvers": ["bob", "bob", "alice"], "quorum": 3},
        router={"kind": "http", "url": "nope"},
        unknown_top_level=1,
    )
    problems = problems_of(data)
    assert "approvals.approvers: lists a name more than once" in problems
    assert "approvals.quorum: 3 is more than the 2 distinct approvers listed" in problems
    assert "router.url: 'nope' is not an http(s) URL with a host" in problems
    assert "unknown_top_level: unknown field (check the spelling)" in problems
    assert len(problems) == 4


def test_requested_by_among_approvers_with_other_errors() -> None:
    data = with_(
        approvals={"approvers": ["alice", "bob"], "quorum": 2},
        candidate={"version": "v1"},
        metrics={"kind": "http-json"},
    )
    problems = problems_of(data)
    assert sorted(problems) == sorted(
        [
            "metrics.url: missing",
            "candidate.version: same as stable ('v1')",
            "approvals: requested_by 'alice' never counts as an approver, so the other 1 approver(s) cannot reach "
            "quorum 2",
        ]
    )


def test_out_of_range_weight_does_not_hide_other_step_problems() -> None:
    data = with_(
        steps=[{"weight": 10, "observe": "1m"}, {"weight": 5, "observe": "0s"}, {"weight": 150, "observe": "1m"}]
    )
    problems = problems_of(data)
    assert "steps[2].weight: Input should be less than 100 (got 150)" in problems
    assert "steps[1].weight: weights must strictly increase (10 then 5)" in problems
    assert "steps[1].observe: must be longer than 0 (got 0s)" in problems


@pytest.mark.parametrize("observe", [1e20, "99999999999d"])
def test_huge_duration_is_a_spec_error(observe: object) -> None:
    problems = problems_of(with_(steps=[{"weight": 5, "observe": observe}]))
    assert any(p.startswith("steps[0].observe:") for p in problems)


def test_bad_manifest_value_is_one_problem_without_union_noise() -> None:
    problems = problems_of(with_(candidate={"version": "v2", "manifest": {"model": [1]}}))
    assert len(problems) == 1
    assert problems[0].startswith("candidate.manifest.model:")


# ---------------------------------------------------------------- fingerprint


def test_fingerprint_is_a_sha256_hex() -> None:
    fingerprint = criteria_fingerprint(validate_spec(minimal()))
    assert len(fingerprint) == 64
    int(fingerprint, 16)


def test_fingerprint_ignores_key_order() -> None:
    forward = with_(
        criteria={"quality_drop_max": 0.03, "min_requests": 800, "alpha": 0.01},
        rollback_triggers={"error_rate_ratio": 3.0, "latency_p95_ratio": 2.0},
    )
    backward = with_(
        criteria={"alpha": 0.01, "min_requests": 800, "quality_drop_max": 0.03},
        rollback_triggers={"latency_p95_ratio": 2.0, "error_rate_ratio": 3.0},
    )
    assert list(forward["criteria"]) != list(backward["criteria"])
    assert criteria_fingerprint(validate_spec(forward)) == criteria_fingerprint(validate_spec(backward))


def test_fingerprint_of_explicit_defaults_equals_omitted() -> None:
    explicit = with_(criteria=Criteria().model_dump(), rollback_triggers=RollbackTriggers().model_dump())
    assert criteria_fingerprint(validate_spec(explicit)) == criteria_fingerprint(validate_spec(minimal()))


def test_fingerprint_ignores_fields_outside_criteria() -> None:
    other = with_(description="something else", steps=[{"weight": 3, "observe": "1h"}])
    assert criteria_fingerprint(validate_spec(other)) == criteria_fingerprint(validate_spec(minimal()))


@pytest.mark.parametrize(
    ("section", "change"),
    [
        ("criteria", {"quality_drop_max": 0.03}),
        ("criteria", {"latency_p95_ratio_max": 1.2}),
        ("criteria", {"error_rate_ratio_max": 1.3}),
        ("criteria", {"min_requests": 501}),
        ("criteria", {"alpha": 0.04}),
        ("rollback_triggers", {"error_rate_ratio": 2.5}),
        ("rollback_triggers", {"latency_p95_ratio": 1.6}),
    ],
)
def test_fingerprint_changes_when_a_criterion_changes(section: str, change: dict[str, Any]) -> None:
    base = criteria_fingerprint(validate_spec(minimal()))
    assert criteria_fingerprint(validate_spec(with_(**{section: change}))) != base


@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1))
def test_fingerprint_equal_iff_criteria_equal(a: float, b: float) -> None:
    fa = criteria_fingerprint(validate_spec(with_(criteria={"quality_drop_max": a})))
    fb = criteria_fingerprint(validate_spec(with_(criteria={"quality_drop_max": b})))
    assert (fa == fb) == (a == b)


# ---------------------------------------------------------------- JSON schema


def test_json_schema_generates() -> None:
    schema = RolloutSpec.model_json_schema()
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"service", "requested_by", "stable", "candidate", "router", "metrics"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["analysis_interval"]["type"] == "string"
    json.dumps(schema)  # serialisable as is


def test_json_schema_describes_every_field() -> None:
    schema = RolloutSpec.model_json_schema()
    models = [("RolloutSpec", schema), *schema["$defs"].items()]
    missing = [
        f"{name}.{field}"
        for name, model in models
        for field, prop in model.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == []
    assert {"Step", "ApprovalPolicy", "HttpRouter", "NginxRouter", "ShadowSpec"} <= set(schema["$defs"])
