"""Targeting in the spec (step segments) and the start-time check that a target's router can express each step."""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.activities import RouterState
from models.policy import GoverningPolicy, resolve
from models.segments import HeaderSegment, RegionSegment, Segment, describe, same_segments
from models.spec import RolloutSpec, Step
from models.validation import SpecError, validate_spec
from workflows.targets import choose_target

INTERNAL: dict[str, Any] = {"header": "X-User-Group", "in": ["internal"]}

ROUTERS: dict[str, dict[str, Any]] = {
    "http": {"kind": "http", "url": "http://127.0.0.1:9100/routes/{service}"},
    "haproxy": {"kind": "haproxy", "socket_path": "/run/haproxy/admin.sock", "state_file": "/var/lib/h/{service}"},
    "unleash": {"kind": "unleash", "url": "http://127.0.0.1:4242", "flag": "{service}-candidate"},
}


def governing() -> GoverningPolicy:
    metrics = {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/{service}"}
    targets = {name: {"router": router, "metrics": metrics} for name, router in ROUTERS.items()}
    raw = json.dumps({"default": {"approvers": ["*"], "targets": targets}}).encode()
    found = resolve(raw, source="policy.json", service="svc")
    assert found is not None
    return found


def spec(target: str, steps: list[dict[str, Any]]) -> RolloutSpec:
    return validate_spec(
        {
            "service": "svc",
            "requested_by": "alice",
            "stable": {"version": "v1"},
            "candidate": {"version": "v2"},
            "target": target,
            "steps": steps,
        }
    )


INTERNAL_THEN_ALL = [
    {"weight": 100, "observe": "1h", "segments": [INTERNAL]},
    {"weight": 5, "observe": "1h"},
    {"weight": 50, "observe": "1h"},
]


def test_segments_parse_as_written_and_dump_the_same_way() -> None:
    step = Step.model_validate(
        {"weight": 20, "observe": "1h", "segments": [INTERNAL, {"region": ["eu-west"]}]}, strict=False
    )
    assert step.segments == [
        HeaderSegment.model_validate(INTERNAL),
        RegionSegment(region=["eu-west"]),
    ]
    assert step.model_dump(mode="json")["segments"] == [INTERNAL, {"region": ["eu-west"]}]
    assert describe(step.segments) == "X-User-Group in internal and region in eu-west"


def test_steps_without_segments_keep_their_old_shape_and_rules() -> None:
    assert spec("http", [{"weight": 10, "observe": "1h"}]).steps[0].segments == []
    with pytest.raises(SpecError, match=r"steps\[0\].weight"):
        spec("http", [{"weight": 100, "observe": "1h"}])
    with pytest.raises(SpecError, match=r"steps\[1\].weight: weights must strictly increase"):
        spec("http", [{"weight": 10, "observe": "1h"}, {"weight": 10, "observe": "1h"}])


@pytest.mark.parametrize(
    ("segment", "field"),
    [
        ({"header": "X User", "in": ["a"]}, "header"),
        ({"header": "X-G", "in": []}, "in"),
        ({"header": "X-G", "in": ["has space"]}, "in"),
        ({"header": "X-G", "in": ["a" * 101]}, "in"),
        ({"header": "X-G", "values": ["a"]}, "in"),
        ({"region": ["eu"], "header": "X-G"}, "region"),
    ],
)
def test_bad_segments_are_refused_naming_the_field(segment: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match=r"steps\[0\]\.segments"):
        spec("unleash", [{"weight": 10, "observe": "1h", "segments": [segment]}])


def test_a_segment_step_may_open_the_rollout_but_not_narrow_after_everyone() -> None:
    assert len(spec("unleash", INTERNAL_THEN_ALL).steps) == 3
    with pytest.raises(SpecError, match=r"steps\[1\]\.segments: a step cannot narrow"):
        spec("unleash", [{"weight": 5, "observe": "1h"}, {"weight": 100, "observe": "1h", "segments": [INTERNAL]}])
    with pytest.raises(SpecError, match=r"steps\[1\]\.weight: weights must strictly increase"):
        spec(
            "unleash",
            [
                {"weight": 50, "observe": "1h", "segments": [INTERNAL]},
                {"weight": 20, "observe": "1h", "segments": [INTERNAL]},
            ],
        )


def test_the_flag_router_expresses_segments_and_whole_percentages() -> None:
    chosen = choose_target(spec("unleash", INTERNAL_THEN_ALL), governing(), lab_mode=False)
    assert not isinstance(chosen, list), chosen


@pytest.mark.parametrize("kind", ["http", "haproxy"])
def test_a_router_without_targeting_refuses_a_segment_step_naming_it(kind: str) -> None:
    problems = choose_target(spec(kind, INTERNAL_THEN_ALL), governing(), lab_mode=False)
    assert isinstance(problems, list)
    assert len(problems) == 1 and problems[0].startswith("steps[0].segments: the "), problems
    assert f"{kind} router of target '{kind}'" in problems[0]


def test_shares_a_router_cannot_set_exactly_are_refused_at_start_naming_the_step() -> None:
    steps = [{"weight": 2.5, "observe": "1h"}, {"weight": 33.3, "observe": "1h"}]
    unleash = choose_target(spec("unleash", steps), governing(), lab_mode=False)
    assert isinstance(unleash, list) and [p.split(":")[0] for p in unleash] == ["steps[0].weight", "steps[1].weight"]
    haproxy = choose_target(spec("haproxy", steps), governing(), lab_mode=False)
    assert isinstance(haproxy, list) and [p.split(":")[0] for p in haproxy] == ["steps[1].weight"]
    assert not isinstance(choose_target(spec("http", steps), governing(), lab_mode=False), list)


def test_an_inline_router_is_checked_too() -> None:
    raw = {
        "service": "svc",
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "http", "url": "http://127.0.0.1:9100/routes/svc"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/svc"},
        "steps": INTERNAL_THEN_ALL,
    }
    problems = choose_target(validate_spec(raw), None, lab_mode=True)
    assert isinstance(problems, list) and "the spec's router" in problems[0]


def test_same_segments_ignores_order_and_header_case() -> None:
    a: list[Segment] = [
        HeaderSegment.model_validate({"header": "X-User-Group", "in": ["b", "a"]}),
        RegionSegment(region=["eu"]),
    ]
    b: list[Segment] = [
        RegionSegment(region=["eu"]),
        HeaderSegment.model_validate({"header": "x-user-group", "in": ["a", "b"]}),
    ]
    assert same_segments(a, b)
    assert not same_segments(a, a[:1])
    assert RouterState(stable=100, candidate=0).segments == [], "routers without targeting report none"
