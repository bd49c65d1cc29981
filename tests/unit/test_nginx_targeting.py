"""nginx targeting (pure): segments as maps in the weights include, served back, and the start-time check."""

from __future__ import annotations

import json
from typing import Any

import pytest

from activities.routers.nginx_include import IncludeError, parse, parse_served, render
from models.activities import RouterState
from models.policy import GoverningPolicy, resolve
from models.segments import same_segments
from models.spec import NginxRouter
from models.validation import validate_spec
from workflows.targets import choose_target

NGINX: dict[str, Any] = {"kind": "nginx", "config_path": "/tmp/w.conf", "nginx_conf": "/tmp/n.conf", "pid_file": "/p"}
INTERNAL: dict[str, Any] = {"header": "X-User-Group", "in": ["internal", "qa.team"]}


def router() -> NginxRouter:
    return NginxRouter.model_validate(NGINX)


def targeted(candidate: float, *segments: dict[str, Any]) -> RouterState:
    return RouterState.model_validate({"stable": 100 - candidate, "candidate": candidate, "segments": list(segments)})


@pytest.mark.parametrize(
    ("candidate", "revision"), [(0, "f8c6ce8627109c02"), (20, "57bd125341ec1fc3"), (100, "1623dc9763e6f227")]
)
def test_a_file_without_segments_is_what_it_was_before_targeting(candidate: float, revision: str) -> None:
    text, got = render(router(), targeted(candidate))
    assert got == revision, "revisions computed by the release before targeting: its files stay ours"
    assert "_split" not in text and "segments=" not in text


def test_segments_become_anchored_maps_and_are_served_back() -> None:
    want = targeted(25, INTERNAL, {"region": ["eu-west"]})
    text, revision = render(router(), want)
    assert "map $http_x_user_group $rollout_upstream_in_0 {\n    ~^internal$ 1;\n    ~^qa\\.team$ 1;\n" in text
    assert "map $http_x_region $rollout_upstream_in_1 {" in text
    assert '"11" $rollout_upstream_split;\n    default stable;' in text
    parsed = parse(router(), text)
    assert parsed.revision == revision and parsed.state == want
    served = parse_served(f"stable=75.00 candidate=25.00 revision={revision} segments=X-User-Group=internal+region=eu")
    assert same_segments(
        served.state.segments, targeted(1, {"header": "x-user-group", "in": ["internal"]}, {"region": ["eu"]}).segments
    )


def test_at_zero_no_one_is_targeted() -> None:
    text, _ = render(router(), targeted(0, INTERNAL))
    assert text == render(router(), targeted(0))[0], "a rollback's file has no segments"


def test_a_hand_edited_segment_is_not_ours() -> None:
    text, _ = render(router(), targeted(25, INTERNAL))
    with pytest.raises(IncludeError, match="differs"):
        parse(router(), text.replace("~^internal$ 1;", "~^intern 1;"))


def check(steps: list[dict[str, Any]]) -> list[str]:
    metrics = {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/{service}"}
    raw_policy = {"default": {"approvers": ["*"], "targets": {"edge": {"router": NGINX, "metrics": metrics}}}}
    found: GoverningPolicy | None = resolve(json.dumps(raw_policy).encode(), source="policy.json", service="svc")
    assert found is not None
    raw = {
        "service": "svc",
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "target": "edge",
        "steps": steps,
    }
    chosen = choose_target(validate_spec(raw), found, lab_mode=False)
    return chosen if isinstance(chosen, list) else []


def test_an_nginx_target_takes_segments_but_not_headers_with_an_underscore() -> None:
    assert check([{"weight": 100, "observe": "1h", "segments": [INTERNAL, {"region": ["eu"]}]}]) == []
    problems = check([{"weight": 50, "observe": "1h", "segments": [{"header": "X_Plan", "in": ["pro"]}]}])
    assert len(problems) == 1 and problems[0].startswith("steps[0].segments: the nginx router of target 'edge'")
    assert "X_Plan header" in problems[0]
