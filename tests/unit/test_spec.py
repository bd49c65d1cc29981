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
from models.durations import MAX_DURATION, PREVIEW_CHARS
from models.limits import (
    MAX_APPROVERS,
    MAX_DESCRIPTION_CHARS,
    MAX_MANIFEST_ENTRIES,
    MAX_NAME_CHARS,
    MAX_NESTING,
    MAX_PROBLEM_CHARS,
    MAX_PROBLEMS,
    MAX_SPEC_BYTES,
    MAX_SPEC_ERROR_CHARS,
    MAX_STEPS,
    MAX_URL_CHARS,
)
from models.spec import (
    ExactCompare,
    HttpJsonMetrics,
    HttpRouter,
    InconclusivePolicy,
    JsonFieldsCompare,
    RolloutSpec,
    criteria_fingerprint,
)
from models.validation import SpecError, too_deep, validate_spec

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
    assert spec.total_observation == timedelta(seconds=180)
    assert spec.analysis_interval == timedelta(seconds=5)
    assert spec.criteria.min_requests == 20_000
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
    for name in ("service", "requested_by", "stable", "candidate"):
        assert f"{name}: missing" in problems
    assert any(p.startswith("target: missing: name one of the operators' targets") for p in problems)
    assert len(problems) == 5


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
        (
            with_(steps=[{"weight": 100, "observe": "1h"}]),
            "steps[0].weight: 100 without segments is the promotion that follows the last step; "
            "a step's share of everyone is below 100",
        ),
        (
            with_(steps=[{"weight": 150, "observe": "1h"}]),
            "steps[0].weight: Input should be less than or equal to 100 (got 150)",
        ),
        (with_(steps=[{"weight": 5, "observe": "0s"}]), "steps[0].observe: must be longer than 0 (got 0s)"),
        (
            with_(steps=[{"weight": 5, "observe": -60}]),
            "steps[0].observe: -1m is negative; a duration is between 0s and 90 days (90d) (got -60)",
        ),
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
            "router.kind: unknown provider kind 'istio' (expected one of: 'http', 'nginx', 'haproxy', 'unleash')",
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
        "router.kind: unknown provider kind 'istio' (expected one of: 'http', 'nginx', 'haproxy', 'unleash')",
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
    assert "steps[2].weight: Input should be less than or equal to 100 (got 150)" in problems
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


def test_fingerprint_of_a_spec_written_before_later_fields_is_unchanged() -> None:
    # The fingerprint of minimal() computed by the code before `error_rate_margin` existed: approvals signed over
    # it must verify when such a rollout replays on today's code.
    before = "be249e01071816734ef67a4d81805e02056eb8974f6c51a32226efeff3e13e82"
    assert criteria_fingerprint(validate_spec(minimal())) == before
    assert criteria_fingerprint(validate_spec(with_(criteria={"error_rate_margin": 0.002}))) != before


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
    assert set(schema["required"]) == {"service", "requested_by", "stable", "candidate"}
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


# ---------------------------------------------------------------- bounded everything (issue 10)

MB = 1024 * 1024


def one_problem_at(data: object, path: str) -> str:
    """The spec is refused, and a problem names ``path``: that problem."""
    problems = problems_of(data)
    named = [p for p in problems if p.startswith(f"{path}:")]
    assert named, problems
    return named[0]


def test_ten_thousand_steps_are_refused_naming_steps() -> None:
    problem = one_problem_at(with_(steps=[{"weight": 1, "observe": "1h"}] * 10_000), "steps")
    assert "256 KiB" in problem  # 10,000 real steps are beyond the size cap, checked first


def test_ten_thousand_small_steps_under_the_size_cap_are_refused_by_the_step_cap() -> None:
    problems = problems_of(with_(steps=[{}] * 10_000))
    assert "steps: List should have at most 20 items after validation, not 10000" in problems


def test_twenty_steps_are_the_most() -> None:
    steps = [{"weight": w, "observe": "1h"} for w in range(1, MAX_STEPS + 1)]
    assert len(validate_spec(with_(steps=steps)).steps) == MAX_STEPS
    problems = problems_of(with_(steps=[*steps, {"weight": 99, "observe": "1h"}]))
    assert problems == ["steps: List should have at most 20 items after validation, not 21"]


@pytest.mark.parametrize(
    ("path", "place"),
    [
        ("requested_by", lambda d, v: d.update(requested_by=v)),
        ("router.url", lambda d, v: d["router"].update(url="http://x/" + v)),
        ("candidate.manifest.model", lambda d, v: d["candidate"].update(manifest={"model": v})),
    ],
)
def test_one_megabyte_string_is_refused_naming_its_field(path: str, place: Any) -> None:
    data = minimal()
    place(data, "x" * MB)
    problem = one_problem_at(data, path)
    assert len(problem) < 300
    assert "(1,048,5" in problem  # a short prefix and the length, never the value


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"requested_by": "r" * 129}, "requested_by: String should have at most 128 characters"),
        ({"description": "d" * 1_001}, "description: String should have at most 1000 characters"),
        (
            {"router": {"kind": "http", "url": "http://x/" + "u" * 2_040}},
            "router.url: String should have at most 2048 characters",
        ),
        (
            {"candidate": {"version": "v2", "manifest": {"model": "m" * 1_025}}},
            "candidate.manifest.model: 1,025 characters, more than the 1,024 a value may have",
        ),
        (
            {"candidate": {"version": "v2", "manifest": {"k" * 129: "v"}}},
            "String should have at most 128 characters",
        ),
        (
            {"candidate": {"version": "v2", "manifest": {f"k{i}": i for i in range(65)}}},
            "candidate.manifest: Dictionary should have at most 64 items after validation",
        ),
        (
            {"candidate": {"version": "v2", "manifest": {f"k{i}": "v" * 1_000 for i in range(20)}}},
            "candidate.manifest: 20,",
        ),
        (
            {"candidate": {"version": "v2", "manifest": {"big": 2**53 + 1}}},
            "candidate.manifest.big: an integer beyond ±2**53",
        ),
        (
            {"approvals": {"approvers": [f"a{i}" for i in range(51)], "quorum": 1}},
            "approvals.approvers: List should have at most 50 items after validation, not 51",
        ),
        ({"approvals": {"approvers": ["a" * 129]}}, "approvals.approvers[0]: String should have at most 128"),
        (
            {"metrics": {"kind": "prometheus", "url": "http://p", "queries": {"errors": "$version" + "q" * 4_096}}},
            "metrics.queries.errors: String should have at most 4096 characters",
        ),
        (
            {
                "router": {
                    "kind": "nginx",
                    "config_path": "/" + "p" * 1_024,
                    "nginx_conf": "/etc/nginx/nginx.conf",
                    "pid_file": "/run/nginx.pid",
                }
            },
            "router.config_path: String should have at most 1024 characters",
        ),
        (
            {
                "router": {
                    "kind": "nginx",
                    "config_path": "/etc/nginx/w\x00.conf",
                    "nginx_conf": "/etc/nginx/nginx.conf",
                    "pid_file": "/run/nginx.pid",
                }
            },
            "router.config_path: a path cannot contain a NUL character",
        ),
        (
            {
                "stable": {"version": "v1", "endpoint": "http://s"},
                "candidate": {"version": "v2", "endpoint": "http://c"},
                "shadow": {"requests_file": "r.jsonl", "max_requests": 100_001},
            },
            "shadow.max_requests: Input should be less than or equal to 100000",
        ),
        (
            {
                "stable": {"version": "v1", "endpoint": "http://s"},
                "candidate": {"version": "v2", "endpoint": "http://c"},
                "shadow": {"requests_file": "r.jsonl", "compare": {"kind": "json-fields", "fields": ["f"] * 65}},
            },
            "shadow.compare.fields: List should have at most 64 items after validation, not 65",
        ),
        ({"criteria": {"min_requests": 10**9 + 1}}, "criteria.min_requests: Input should be less than or equal to"),
        ({"criteria": {"latency_p95_ratio_max": 101}}, "criteria.latency_p95_ratio_max: Input should be less than"),
        ({"rollback_triggers": {"error_rate_ratio": 1e6}}, "rollback_triggers.error_rate_ratio: Input should be less"),
        ({"analysis_failures": {"max_consecutive": 1_001}}, "analysis_failures.max_consecutive: Input should be less"),
        (
            {"preflight": {"url": "http://e", "baseline": 1e13}},
            "preflight.baseline: Input should be less than or equal to 1000000000000",
        ),
        ({"router": {"kind": "http", "url": "http://x/a b"}}, "router.url: 'http://x/a b' has spaces or control"),
    ],
)
def test_caps(changes: dict[str, Any], expected: str) -> None:
    problems = problems_of(with_(**changes))
    assert any(expected in p for p in problems), problems
    assert len(problems) == 1, problems


def test_values_at_the_caps_are_accepted() -> None:
    data = with_(
        requested_by="r" * MAX_NAME_CHARS,
        description="d" * MAX_DESCRIPTION_CHARS,
        router={"kind": "http", "url": "http://x/" + "u" * (MAX_URL_CHARS - 9)},
        candidate={"version": "v2", "manifest": {f"k{i}": "v" * 200 for i in range(MAX_MANIFEST_ENTRIES)}},
        approvals={"approvers": [f"a{i}" for i in range(MAX_APPROVERS)], "quorum": MAX_APPROVERS},
    )
    spec = validate_spec(data)  # the manifest: 64 entries of about 210 bytes, under 16 KiB
    assert isinstance(spec.router, HttpRouter)
    assert len(spec.router.url) == MAX_URL_CHARS
    assert len(spec.candidate.manifest) == MAX_MANIFEST_ENTRIES
    assert spec.approvals is not None and spec.approvals.quorum == MAX_APPROVERS


def test_spec_json_over_the_size_cap_is_refused_first() -> None:
    text = json.dumps(with_(description="d" * MAX_SPEC_BYTES))
    assert problems_of(text) == [
        f"(spec): {len(text):,} bytes or more, more than the 262,144 (256 KiB) a spec may have"
    ]
    assert "description: too large" in problems_of(json.loads(text))[0]


def test_spec_size_cap_names_the_largest_field() -> None:
    data = with_(colour=["c" * 100] * 3_000)
    (problem,) = problems_of(data)
    assert problem.startswith("colour: too large: a spec may have at most 262,144 bytes (256 KiB) of JSON")


def test_deep_nesting_is_refused_without_recursion() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    data = minimal()  # not with_(): its deepcopy is recursive
    data["colour"] = deep
    assert problems_of(data) == [f"colour[0][0]...: nested more than {MAX_NESTING} levels deep"]
    assert problems_of("[" * 100_000 + "]" * 100_000) == [f"(spec): nested more than {MAX_NESTING} levels deep"]
    deep_text = '{"service": "x", "candidate": {"manifest": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}}"
    assert problems_of(deep_text) == [f"candidate.manifest.a...: nested more than {MAX_NESTING} levels deep"]


def nested(depth: int) -> dict[str, Any]:
    deep: dict[str, Any] = {"a": None}
    for _ in range(depth - 1):
        deep = {"a": deep}
    return deep


@pytest.mark.parametrize("as_text", [False, True], ids=["object", "text"])
def test_400_deep_manifest_names_the_field_and_the_limit(as_text: bool) -> None:
    data = minimal()
    data["candidate"]["manifest"] = nested(400)
    problems = problems_of(json.dumps(data) if as_text else data)
    assert problems == [f"candidate.manifest.a...: nested more than {MAX_NESTING} levels deep"]


def test_nesting_at_the_limit_is_not_a_nesting_problem() -> None:
    data = minimal()
    data["candidate"]["manifest"] = nested(MAX_NESTING - 1)
    assert not any("nested" in problem for problem in problems_of(data))
    assert too_deep(json.dumps(data)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": {"b": [0, 1, ' + "[" * 40 + "]" * 40 + "]}}", "a.b[2]..."),
        ('{"k\\"[{": ' + "{" * 40 + "}" * 40 + "}", 'k"[{'),
        ('{"s": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "t": ' + "[" * 40, "t[0][0]..."),
        ("[" * 40, "(spec)"),
    ],
    ids=["array-index", "escaped-key", "brackets-in-strings", "top-level-list"],
)
def test_too_deep_scans_raw_text_naming_the_path(text: str, expected: str) -> None:
    assert too_deep(text) == f"{expected}: nested more than {MAX_NESTING} levels deep"
    assert too_deep(text.encode()) == too_deep(text)


def test_too_deep_reads_at_most_the_spec_size_cap() -> None:
    assert too_deep(" " * MAX_SPEC_BYTES + "[" * 40) is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"on_inconclusive": {"hold_max": "91d"}}, "on_inconclusive.hold_max: '91d' is longer than 90 days"),
        (
            {"shadow": {"requests_file": "/r.jsonl", "compare": {"kind": "json-fields", "fields": [""]}}},
            "shadow.compare.fields[0]: String should have at least 1 character",
        ),
        (
            {"shadow": {"requests_file": "/r.jsonl", "compare": {"kind": "numeric-tolerance", "fields": ["a"]}}},
            "shadow.compare.tolerance: missing",
        ),
        ({"candidate": {"version": "v2", "manifest": {"http": [1]}}}, "candidate.manifest.http: expected a string"),
    ],
)
def test_nested_problems_are_named_by_their_full_path(changes: dict[str, Any], expected: str) -> None:
    problems = problems_of(with_(**changes))
    assert any(problem.startswith(expected) for problem in problems), problems


@pytest.mark.parametrize("text", [b"\xff\xfe\x00", b"\xff", "1" * 5_000])
def test_undecodable_input_is_a_spec_error(text: str | bytes) -> None:
    (problem,) = problems_of(text)
    assert problem.startswith("(spec): not JSON:")


def test_non_string_field_names_are_refused() -> None:
    keyed: dict[Any, Any] = {**minimal(), 1: 2}
    assert problems_of(keyed) == ["(spec): field names must be strings (got 1)"]
    data = minimal()
    data["candidate"]["manifest"] = {("a",): 1}
    assert problems_of(data) == ["candidate.manifest: field names must be strings (got a tuple of 1 item)"]


# ---------------------------------------------------------------- strict types (issue 10)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"steps": [{"weight": True, "observe": "1h"}]}, "steps[0].weight: Input should be a valid number (got True)"),
        ({"steps": [{"weight": "10", "observe": "1h"}]}, "steps[0].weight: Input should be a valid number (got '10')"),
        (
            {"steps": [{"weight": 10, "observe": "1h", "approval": "yes"}], "approvals": {"approvers": ["bob"]}},
            "steps[0].approval: Input should be a valid boolean (got 'yes')",
        ),
        (
            {"steps": [{"weight": 10, "observe": "1h", "approval": 1}], "approvals": {"approvers": ["bob"]}},
            "steps[0].approval: Input should be a valid boolean (got 1)",
        ),
        (
            {"approvals": {"approvers": ["bob"], "quorum": True}},
            "approvals.quorum: Input should be a valid integer (got True)",
        ),
        (
            {"approvals": {"approvers": ["bob", "carol"], "quorum": 2.0}},
            "approvals.quorum: Input should be a valid integer (got 2.0)",
        ),
        (
            {"approvals": {"approvers": ["bob"], "quorum": "1"}},
            "approvals.quorum: Input should be a valid integer (got '1')",
        ),
        ({"criteria": {"min_requests": "500"}}, "criteria.min_requests: Input should be a valid integer (got '500')"),
        ({"criteria": {"alpha": True}}, "criteria.alpha: Input should be a valid number (got True)"),
        ({"criteria": {"quality_drop_max": "0.1"}}, "criteria.quality_drop_max: Input should be a valid number"),
        (
            {"rollback_triggers": {"latency_p95_ratio": "2"}},
            "rollback_triggers.latency_p95_ratio: Input should be a valid number (got '2')",
        ),
        (
            {
                "stable": {"version": "v1", "endpoint": "http://s"},
                "candidate": {"version": "v2", "endpoint": "http://c"},
                "shadow": {"requests_file": "r.jsonl", "max_requests": "60"},
            },
            "shadow.max_requests: Input should be a valid integer (got '60')",
        ),
        (
            {"analysis_failures": {"max_consecutive": False}},
            "analysis_failures.max_consecutive: Input should be a valid integer (got False)",
        ),
        ({"steps": [{"weight": float("nan"), "observe": "1h"}]}, "steps[0].weight: Input should be a finite number"),
        ({"preflight": {"url": "http://e", "baseline": float("inf")}}, "preflight.baseline: Input should be a finite"),
        ({"requested_by": 42}, "requested_by: Input should be a valid string (got 42)"),
        ({"requested_by": b"alice"}, "requested_by: Input should be a valid string (got b'alice')"),
        ({"description": ["why"]}, "description: Input should be a valid string"),
        ({"stable": {"version": "v1", "manifest": {"model": None}}}, "stable.manifest.model: expected a string"),
    ],
)
def test_strict_types(changes: dict[str, Any], expected: str) -> None:
    problems = problems_of(with_(**changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_numbers_keep_their_json_types() -> None:
    spec = validate_spec(
        with_(
            steps=[{"weight": 1, "observe": "1h"}, {"weight": 2.5, "observe": "1h"}],
            criteria={"min_requests": 800, "quality_drop_max": 0, "alpha": 0.01},
            candidate={"version": "v2", "manifest": {"n": 3, "x": 0.5, "flag": True, "s": "3"}},
        )
    )
    assert [s.weight for s in spec.steps] == [1.0, 2.5]  # an integer is a number
    assert spec.candidate.manifest == {"n": 3, "x": 0.5, "flag": True, "s": "3"}
    assert type(spec.candidate.manifest["flag"]) is bool
    assert type(spec.candidate.manifest["n"]) is int


@pytest.mark.parametrize(
    ("observe", "expected"),
    [
        ("１０s", "steps[0].observe: '１０s' is not a duration: non-ASCII characters (digits are 0-9)"),
        ("٣h", "steps[0].observe: '٣h' is not a duration: non-ASCII characters"),
        ("3000000d", "steps[0].observe: '3000000d' is longer than 90 days (90d), the longest a duration may be"),
        ("91d", "steps[0].observe: '91d' is longer than 90 days (90d)"),
        ("90d1ms", "steps[0].observe: '90d1ms' is longer than 90 days (90d)"),
        ("P13W", "steps[0].observe: 'P13W' is longer than 90 days (90d)"),
        (10**7, "steps[0].observe: 115d17h46m40s is longer than 90 days (90d)"),
        ("99999999999d", "steps[0].observe: '99999999999d' is longer than 90 days (90d)"),
    ],
)
def test_durations_are_ascii_and_at_most_ninety_days(observe: object, expected: str) -> None:
    (problem,) = problems_of(with_(steps=[{"weight": 5, "observe": observe}]))
    assert problem.startswith(expected)


@pytest.mark.parametrize("observe", ["90d", "P90D", "2160h", 90 * 86_400])
def test_ninety_days_is_accepted(observe: object) -> None:
    spec = validate_spec(with_(steps=[{"weight": 5, "observe": observe}]))
    assert spec.steps[0].observe == MAX_DURATION == timedelta(days=90)


# ---------------------------------------------------------------- bounded messages (issue 10)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for key, member in value.items() for p in leaf_paths(member, (*prefix, key))]
    if isinstance(value, list):
        return [p for index, member in enumerate(value) for p in leaf_paths(member, (*prefix, index))]
    return [prefix]


NGINX_ROUTER = {
    "kind": "nginx",
    "config_path": "/etc/nginx/w.conf",
    "nginx_conf": "/etc/nginx/nginx.conf",
    "prefix": "/etc/nginx",
    "nginx_bin": "nginx",
    "variable": "v",
    "stable_upstream": "s",
    "candidate_upstream": "c",
    "pid_file": "/run/nginx.pid",
    "verify_url": "http://n/w",
    "reload_timeout": "10s",
}
PROMETHEUS = {
    "kind": "prometheus",
    "url": "http://p",
    "queries": {
        "requests": "r($version)",
        "errors": "e($version)",
        "latency_buckets": "l($version)",
        "latency_unit": "seconds",
        "quality_sum": "s($version)",
        "quality_sum_squares": "q($version)",
        "quality_count": "c($version)",
    },
}


VARIANTS: dict[str, dict[str, Any]] = {
    "": {},
    "other:": {
        "router": NGINX_ROUTER,
        "metrics": PROMETHEUS,
        "compare": {"kind": "text-similarity", "field": "answer", "min_similarity": 0.8},
    },
    "numeric:": {"compare": {"kind": "numeric-tolerance", "fields": ["score"], "tolerance": 0.1}},
}
"""The example spec, and the providers and comparators it does not use, so every field gets its 1 MB value."""


def full_spec(variant: str = "") -> dict[str, Any]:
    """Every section, with the providers and comparator of ``variant``."""
    data: dict[str, Any] = json.loads((EXAMPLES / "support-assistant-v2.json").read_text())
    data["preflight"] = {"url": "http://e/score", "score_field": "score", "baseline": 0.8, "tolerance": 0.01}
    data["on_inconclusive"] = {"extend_by": "1h", "max_extensions": 2, "then": "pause", "hold_max": "7d"}
    data["analysis_failures"] = {"max_consecutive": 3, "action": "pause"}
    data["criteria"]["alpha"] = 0.05
    data["shadow"].update(concurrency=8, request_timeout="10s")
    changes = copy.deepcopy(VARIANTS[variant])
    if "compare" in changes:
        data["shadow"]["compare"] = changes.pop("compare")
    data.update(changes)
    return data


def field_paths() -> list[tuple[str, tuple[Any, ...]]]:
    paths = {("", path) for path in leaf_paths(full_spec())}
    for variant in ("other:", "numeric:"):
        varied = {path for path in leaf_paths(full_spec(variant)) if path[0] in ("router", "metrics", "shadow")}
        paths |= {(variant, path) for path in varied if path[:2] != ("shadow", "requests_file")}
    return sorted(paths, key=str)


def put(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def dotted(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


@pytest.mark.parametrize(("variant", "path"), field_paths(), ids=[v + dotted(p) for v, p in field_paths()])
def test_a_one_megabyte_value_in_any_field_gives_a_small_error_naming_it(variant: str, path: tuple[Any, ...]) -> None:
    data = full_spec(variant)
    put(data, path, "x" * MB)
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    message = str(info.value)
    assert len(message) <= MAX_SPEC_ERROR_CHARS
    assert len(message) < 1_000  # one problem, and a 40-character prefix of the value at most
    assert "x" * (PREVIEW_CHARS + 1) not in message
    assert any(p.startswith(dotted(path)) for p in info.value.problems), info.value.problems


def test_problem_list_is_capped_and_counted() -> None:
    data = with_(**{f"unknown_{i}": i for i in range(10_000)})
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    error = info.value
    assert len(error.problems) == MAX_PROBLEMS
    assert (error.total, error.omitted) == (10_000, 10_000 - MAX_PROBLEMS)
    message = str(error)
    assert message.startswith("invalid rollout spec (10,000 problems):\n")
    assert message.endswith(f"\n  ... and {10_000 - MAX_PROBLEMS:,} more")
    assert len(message) <= MAX_SPEC_ERROR_CHARS


def test_spec_error_message_is_bounded_whatever_the_problems() -> None:
    error = SpecError(["field: " + "y" * MB] * 10_000)
    assert len(str(error)) <= MAX_SPEC_ERROR_CHARS
    assert all(len(p) <= MAX_PROBLEM_CHARS for p in error.problems)
    assert len(error.problems) == MAX_PROBLEMS
    # The bound is the worst case of the header, MAX_PROBLEMS full lines and the count of the rest.
    assert (
        len("invalid rollout spec (999,999,999 problems):\n")
        + MAX_PROBLEMS * (MAX_PROBLEM_CHARS + 5)
        + len("  ... and 999,999,999 more")
        <= MAX_SPEC_ERROR_CHARS
    )


def test_one_megabyte_value_in_every_field_at_once_stays_small() -> None:
    data = full_spec()
    for path in leaf_paths(data):
        put(data, path, "x" * MB)
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    assert len(str(info.value)) <= MAX_SPEC_ERROR_CHARS
    under_cap = full_spec()
    for path in leaf_paths(under_cap):  # under the size cap: each field's own cap speaks
        put(under_cap, path, "x" * 3_000)
    with pytest.raises(SpecError) as info:
        validate_spec(under_cap)
    assert len(str(info.value)) <= MAX_SPEC_ERROR_CHARS
    assert info.value.total > MAX_PROBLEMS
    assert all("x" * (PREVIEW_CHARS + 1) not in p for p in info.value.problems)


# ---------------------------------------------------------------- on_inconclusive


def test_on_inconclusive_defaults() -> None:
    policy = validate_spec(minimal()).on_inconclusive
    assert policy == InconclusivePolicy()
    assert (policy.extend_by, policy.max_extensions, policy.then, policy.hold_max) == (
        None,
        1,
        "pause",
        timedelta(days=7),
    )


def test_on_inconclusive_written_in_full() -> None:
    spec = validate_spec(
        with_(on_inconclusive={"extend_by": "2h", "max_extensions": 10, "then": "rollback", "hold_max": "90d"})
    )
    assert spec.on_inconclusive == InconclusivePolicy(
        extend_by=timedelta(hours=2), max_extensions=10, then="rollback", hold_max=timedelta(days=90)
    )
    assert spec.model_dump(mode="json")["on_inconclusive"] == {
        "extend_by": "2h",
        "max_extensions": 10,
        "then": "rollback",
        "hold_max": "90d",
    }


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"max_extensions": 11}, "on_inconclusive.max_extensions: Input should be less than or equal to 10"),
        ({"max_extensions": -1}, "on_inconclusive.max_extensions: Input should be greater than or equal to 0"),
        ({"max_extensions": True}, "on_inconclusive.max_extensions: Input should be a valid integer (got True)"),
        ({"then": "wait"}, "on_inconclusive.then: Input should be 'pause' or 'rollback' (got 'wait')"),
        ({"hold_max": "91d"}, "on_inconclusive.hold_max: '91d' is longer than 90 days (90d)"),
        ({"hold_max": "0s"}, "on_inconclusive.hold_max: must be longer than 0 (got '0s')"),
        ({"extend_by": "0s"}, "on_inconclusive.extend_by: must be longer than 0 (got '0s')"),
        ({"extend_by": "１h"}, "on_inconclusive.extend_by: '１h' is not a duration"),
        (
            {"extend_by": "1m"},
            "on_inconclusive.extend_by: 1m is shorter than analysis_interval (5m), so an extension could end "
            "before its first analysis",
        ),
        ({"extend": "1h"}, "on_inconclusive.extend: unknown field (check the spelling)"),
    ],
)
def test_on_inconclusive_refusals(policy: dict[str, Any], expected: str) -> None:
    problems = problems_of(with_(on_inconclusive=policy))
    assert any(p.startswith(expected) for p in problems), problems
    assert len(problems) == 1, problems


def test_on_inconclusive_is_in_the_json_schema() -> None:
    schema = RolloutSpec.model_json_schema()
    policy = schema["$defs"]["InconclusivePolicy"]["properties"]
    assert set(policy) == {"extend_by", "max_extensions", "then", "hold_max"}
    assert (policy["max_extensions"]["minimum"], policy["max_extensions"]["maximum"]) == (0, 10)
    assert policy["then"]["enum"] == ["pause", "rollback"]
