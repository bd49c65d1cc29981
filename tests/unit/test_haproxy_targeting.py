"""HAProxy targeting as runtime maps (pure): entries, read-back, the narrow-then-widen order and the start check."""

from __future__ import annotations

import json
from typing import Any

import pytest

from activities.routers.haproxy_targeting import (
    MapParseError,
    TargetingError,
    entries,
    frontend_rules,
    intersection,
    map_file_text,
    parse_show_map,
    segments_of,
    targeting_of,
)
from models.policy import GoverningPolicy, resolve
from models.segments import HeaderSegment, RegionSegment, Segment, same_segments
from models.spec import HaproxyRouter
from models.validation import validate_spec
from workflows.targets import choose_target

MAPS = {"X-User-Group": "/etc/haproxy/maps/group.map", "X-Region": "/etc/haproxy/maps/region.map"}
ROUTER: dict[str, Any] = {
    "kind": "haproxy",
    "socket_path": "/run/haproxy/admin.sock",
    "state_file": "/var/lib/h/{service}",
    "segment_maps": MAPS,
}
INTERNAL: dict[str, Any] = {"header": "X-User-Group", "in": ["internal"]}


def router(**overrides: Any) -> HaproxyRouter:
    return HaproxyRouter.model_validate({**ROUTER, **overrides})


def segments(*raw: dict[str, Any]) -> list[Segment]:
    return [RegionSegment.model_validate(s) if "region" in s else HeaderSegment.model_validate(s) for s in raw]


def test_segments_become_one_map_per_header_and_read_back_as_asked() -> None:
    asked = segments({"header": "x-user-group", "in": ["internal", "beta"]}, {"region": ["eu-west"]})
    targeting = targeting_of(router(), asked)
    assert targeting == {"x-user-group": frozenset({"internal", "beta"}), "x-region": frozenset({"eu-west"})}
    assert entries(targeting["x-user-group"]) == [(".targeted", "yes"), ("beta", "match"), ("internal", "match")]
    assert same_segments(segments_of(router(), targeting, asked), asked)
    assert same_segments(segments_of(router(), targeting), asked), "without the request: the canonical forms"


def test_no_segments_leave_every_map_empty() -> None:
    targeting = targeting_of(router(), [])
    assert targeting == {"x-user-group": None, "x-region": None}
    assert entries(None) == [] and segments_of(router(), targeting) == []
    assert map_file_text("X-Region", None).count("\n") == 1, "only the comment line"


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        ([{"header": "X-Plan", "in": ["pro"]}], "no runtime map for the X-Plan header"),
        ([INTERNAL, {"header": "X-User-Group", "in": ["beta"]}], "two segments on the X-User-Group header"),
    ],
)
def test_segments_without_a_map_or_twice_on_a_header_are_refused(asked: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(TargetingError, match=says):
        targeting_of(router(), segments(*asked))


def test_the_narrower_targeting_constrains_where_either_does_to_what_both_let_in() -> None:
    old = {"a": frozenset({"internal", "beta"}), "b": None, "c": frozenset({"x"})}
    new = {"a": frozenset({"beta", "power"}), "b": frozenset({"eu"}), "c": None}
    assert intersection(old, new) == {"a": frozenset({"beta"}), "b": frozenset({"eu"}), "c": frozenset({"x"})}
    assert intersection(old, {k: None for k in old}) == old, "widening to everyone: keep the old until weights move"


def test_show_map_answers_are_read_strictly() -> None:
    answer = "0x55e1 .targeted yes\n0x55e2 internal match\n\n"
    assert parse_show_map(answer) == frozenset({"internal"})
    assert parse_show_map("\n") is None
    assert parse_show_map("0x1 .targeted yes\n") == frozenset(), "constrained to nothing: no one"
    for bad in ["0x1 internal match\n", "0x1 .targeted yes\n0x2 internal other\n", "Unknown map identifier.\n"]:
        with pytest.raises(MapParseError):
            parse_show_map(bad)


def test_frontend_rules_send_users_outside_the_segments_to_stable_only() -> None:
    rules = frontend_rules(router(), stable_backend="rollout_stable")
    assert rules.count("use_backend rollout_stable if ") == 2
    assert "req.fhdr(X-User-Group),map(/etc/haproxy/maps/group.map) -m str match" in rules
    assert "str(.targeted),map(/etc/haproxy/maps/region.map) -m str yes" in rules


@pytest.mark.parametrize(
    ("maps", "says"),
    [
        ({"X-User-Group": "/a.map", "x-user-group": "/b.map"}, "names a header twice"),
        ({"X-User-Group": "/a.map", "X-Region": "/a.map"}, "the same map file"),
        ({"X-User-Group": "/maps/a b.map"}, "segment_maps"),
        ({"X-User-Group": "/maps/a.map;show info"}, "segment_maps"),
        ({"X-User Group": "/maps/a.map"}, "segment_maps"),
    ],
)
def test_bad_segment_maps_are_refused(maps: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        router(segment_maps=maps)


def test_segment_maps_stay_out_of_the_json_when_empty() -> None:
    plain = HaproxyRouter.model_validate({k: v for k, v in ROUTER.items() if k != "segment_maps"})
    assert "segment_maps" not in plain.model_dump(mode="json")
    assert router().model_dump(mode="json")["segment_maps"] == MAPS


def governing(haproxy: dict[str, Any]) -> GoverningPolicy:
    metrics = {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/{service}"}
    raw = json.dumps(
        {"default": {"approvers": ["*"], "targets": {"lb": {"router": haproxy, "metrics": metrics}}}}
    ).encode()
    found = resolve(raw, source="policy.json", service="svc")
    assert found is not None
    return found


def check(steps: list[dict[str, Any]], haproxy: dict[str, Any] = ROUTER) -> list[str]:
    raw = {
        "service": "svc",
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "target": "lb",
        "steps": steps,
    }
    chosen = choose_target(validate_spec(raw), governing(haproxy), lab_mode=False)
    return chosen if isinstance(chosen, list) else []


def test_a_haproxy_target_with_maps_takes_the_headers_it_lists() -> None:
    steps = [
        {"weight": 100, "observe": "1h", "segments": [INTERNAL, {"region": ["eu-west"]}]},
        {"weight": 10, "observe": "1h"},
    ]
    assert check(steps) == []


def test_a_haproxy_target_refuses_what_its_maps_cannot_express_naming_the_step() -> None:
    steps = [
        {"weight": 50, "observe": "1h", "segments": [INTERNAL]},
        {"weight": 100, "observe": "1h", "segments": [INTERNAL, {"header": "X-Plan", "in": ["pro"]}]},
        {"weight": 10, "observe": "1h"},
    ]
    problems = check(steps)
    assert len(problems) == 1 and problems[0].startswith("steps[1].segments: "), problems
    assert "cannot match the X-Plan header (it targets X-Region, X-User-Group)" in problems[0]
    twice = [{"weight": 50, "observe": "1h", "segments": [INTERNAL, {"header": "x-user-group", "in": ["b"]}]}]
    assert [p.split(":")[0] for p in check(twice)] == ["steps[0].segments"]
    assert "two segments on the x-user-group header" in check(twice)[0]


def test_a_haproxy_target_without_maps_refuses_segments_naming_who_can() -> None:
    plain = {k: v for k, v in ROUTER.items() if k != "segment_maps"}
    problems = check([{"weight": 50, "observe": "1h", "segments": [INTERNAL]}], plain)
    assert problems == [
        "steps[0].segments: the haproxy router of target 'lb' cannot target segments, only a share of all users; "
        "use a target whose router can (nginx, unleash, or haproxy with segment_maps), or drop the step's segments"
    ]
