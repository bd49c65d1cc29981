"""A shadow item in mirror mode, pure: its fields, the routers that can mirror, the include nginx loads, the plan."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from activities.routers.nginx_include import parse, parse_served, render
from models.activities import RouterState, SetWeightsInput
from models.phases import Phase
from models.policy import GoverningPolicy, resolve
from models.spec import NginxRouter
from models.strategy import CanaryStep, ShadowStep, StrategyStep, mirror_alpha
from models.targets import ChosenTarget
from models.validation import validate_spec
from tests.unit.test_shadow_item import SIM
from tests.unit.test_strategy import CANARY, base, problems_of
from workflows.rollout.kinds.mirror import mirror_step
from workflows.rollout.plan import plan_of
from workflows.targets import choose_target

MIRROR: dict[str, Any] = {"kind": "shadow", "mode": "mirror", "duration": "2h"}
NAMED = {"target": "x", "router": None, "metrics": None}
HAPROXY = {"kind": "haproxy", "socket_path": "/run/haproxy/admin.sock", "state_file": "/var/lib/h/{service}"}
UNLEASH = {"kind": "unleash", "url": "http://127.0.0.1:4242", "flag": "{service}-candidate"}
NGINX = {
    "kind": "nginx",
    "config_path": "/etc/nginx/rollout/weights.conf",
    "nginx_conf": "/etc/nginx/nginx.conf",
    "verify_url": "http://127.0.0.1:8080/__weights",
}


def governing(router: dict[str, Any]) -> GoverningPolicy:
    target = {**SIM, "router": router}
    raw = json.dumps({"default": {"approvers": ["*"], "targets": {"x": target}}}).encode()
    found = resolve(raw, source="policy.json", service="support-assistant")
    assert found is not None
    return found


def test_a_mirror_item_validates_with_its_duration_and_needs_no_endpoints() -> None:
    spec = validate_spec(base(strategy=[MIRROR, CANARY], **NAMED))
    item = plan_of(spec)[0]
    assert isinstance(item, ShadowStep)
    assert (item.mode, item.duration, item.replay) == ("mirror", timedelta(hours=2), None)
    step = mirror_step(item)
    assert (step.weight, step.observe) == (0.0, timedelta(hours=2))


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({**MIRROR, "duration": None}, "strategy[0].duration: a mirror needs a duration"),
        ({"kind": "shadow", "mode": "mirror"}, "strategy[0].duration: a mirror needs a duration"),
        ({**MIRROR, "replay": "support"}, "strategy[0].replay: only a replay has replay"),
        ({**MIRROR, "min_agreement": 0.9}, "strategy[0].min_agreement: only a replay has min_agreement"),
        ({**MIRROR, "duration": "91d"}, "strategy[0].duration:"),
        ({**MIRROR, "duration": "0s"}, "strategy[0].duration: must be longer than 0"),
        ({**MIRROR, "duration": "30s"}, "strategy[0].duration: 30s is shorter than analysis_interval"),
        ({"kind": "shadow", "replay": "support", "duration": "1h"}, "strategy[0].duration: a replay ends"),
    ],
)
def test_invalid_mirror_items_name_the_field(item: dict[str, Any], expected: str) -> None:
    problems = problems_of(base(strategy=[item, CANARY], **NAMED))
    assert any(p.startswith(expected) for p in problems), problems


def test_a_mirror_comes_before_the_first_canary_only() -> None:
    problems = problems_of(base(strategy=[CANARY, MIRROR], **NAMED))
    assert any(p.startswith("strategy[1].kind: a shadow compares the versions before") for p in problems), problems


@pytest.mark.parametrize(
    ("router", "refused"),
    [
        (SIM["router"], None),
        ({**NGINX, "mirror_location": "/__mirror"}, None),
        (NGINX, "strategy[0].mode: target 'x' router nginx cannot mirror traffic (its target sets no mirror_location)"),
        (HAPROXY, "strategy[0].mode: target 'x' router haproxy cannot mirror traffic"),
        (UNLEASH, "strategy[0].mode: target 'x' router unleash cannot mirror traffic"),
    ],
)
def test_only_routers_that_can_mirror_start_a_mirror(router: dict[str, Any], refused: str | None) -> None:
    spec = validate_spec(base(strategy=[MIRROR, CANARY], **NAMED))
    chosen = choose_target(spec, governing(router), lab_mode=False)
    if refused is None:
        assert isinstance(chosen, ChosenTarget), chosen
    else:
        assert isinstance(chosen, list) and any(p.startswith(refused) for p in chosen), chosen


def test_a_replay_item_needs_no_mirror_router() -> None:
    item = {"kind": "shadow", "replay": "support"}
    endpoints = {
        "stable": {"version": "v1", "endpoint": "http://127.0.0.1:9101/v1/answer"},
        "candidate": {"version": "v2", "endpoint": "http://127.0.0.1:9101/v1/candidate"},
    }
    spec = validate_spec(base(strategy=[item, CANARY], **NAMED, **endpoints))
    assert isinstance(choose_target(spec, governing(HAPROXY), lab_mode=False), ChosenTarget)


def test_mirror_off_is_absent_from_the_json_so_recorded_inputs_and_states_keep_their_bytes() -> None:
    assert RouterState(stable=100, candidate=0).model_dump(mode="json") == {"stable": 100, "candidate": 0}
    assert RouterState(stable=100, candidate=0, mirror=True).model_dump(mode="json")["mirror"] is True
    request = SetWeightsInput(router=NginxRouter.model_validate(NGINX), service="s", candidate_weight=0)
    assert "mirror" not in request.model_dump(mode="json")
    assert "mirror_location" not in request.model_dump(mode="json")["router"]


def test_the_nginx_include_is_unchanged_without_mirror_location_and_switches_with_it() -> None:
    plain = NginxRouter.model_validate(NGINX)
    text, _ = render(plain, RouterState(stable=100, candidate=0))
    assert "_mirror" not in text, "a target without mirror_location keeps the file it had"
    with pytest.raises(ValueError, match="cannot mirror traffic"):
        render(plain, RouterState(stable=100, candidate=0, mirror=True))

    mirroring = NginxRouter.model_validate({**NGINX, "mirror_location": "/__mirror"})
    on, on_revision = render(mirroring, RouterState(stable=100, candidate=0, mirror=True))
    off, off_revision = render(mirroring, RouterState(stable=100, candidate=0))
    assert "map $http_x_user_id $rollout_upstream_mirror {\n    default 1;\n}" in on
    assert "map $http_x_user_id $rollout_upstream_mirror {\n    default 0;\n}" in off
    assert on_revision != off_revision, "a reload is seen to switch the mirror"
    assert parse(mirroring, on).state == RouterState(stable=100, candidate=0, mirror=True)
    assert parse(mirroring, off).state == RouterState(stable=100, candidate=0)
    served = f"stable=100.00 candidate=0.00 revision={on_revision} mirror=on"
    assert served in on
    assert parse_served(served).state.mirror is True


def test_the_documented_example_runs_on_the_example_policys_production_target() -> None:
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    spec = validate_spec(json.loads((docs / "examples" / "strategy-shadow-mirror.json").read_text()))
    first = plan_of(spec)[0]
    assert isinstance(first, ShadowStep) and first.mode == "mirror"
    raw = (docs / "examples" / "policies" / "support-assistant.json").read_bytes()
    found = resolve(raw, source="support-assistant.json", service="support-assistant")
    assert found is not None
    assert isinstance(choose_target(spec, found, lab_mode=False), ChosenTarget)
    assert "(examples/strategy-shadow-mirror.json)" in (docs / "rollouts.md").read_text()


def test_the_plan_and_current_details_show_the_mirror() -> None:
    from tests.unit.test_view import T0, state
    from workflows.rollout import view

    spec = validate_spec(base(strategy=[MIRROR, CANARY], **NAMED))
    assert "| 1 shadow | 0% (live traffic mirrored to the candidate, answers discarded) | 2h | - |" in view.plan(spec)
    s = state(spec)
    s.phase = Phase.CANARY
    s.step_index, s.weight = 0, 0.0
    details = view.details(spec, s, T0)
    assert "**Step 1 of 2** (shadow) at 0%" in details, details


def test_a_replay_items_json_is_what_it_was_before_mirrors() -> None:
    item = ShadowStep.model_validate({"kind": "shadow", "replay": "support"})
    dumped = item.model_dump(mode="json")
    assert "duration" not in dumped and dumped["mode"] == "replay" and dumped["replay"] == "support"


def test_mirror_items_and_the_canary_steps_share_the_one_alpha() -> None:
    """A mirror's judge and the canary steps' together spend at most the guard's alpha (a union bound)."""
    one: list[StrategyStep] = [
        ShadowStep(kind="shadow", mode="mirror", duration=timedelta(hours=2)),
        CanaryStep(kind="canary", weight=10, observe=timedelta(hours=1)),
    ]
    two: list[StrategyStep] = [one[0], one[0], one[1]]
    assert mirror_alpha(0.05, one, in_mirror=True) + mirror_alpha(0.05, one, in_mirror=False) == pytest.approx(0.05)
    assert 2 * mirror_alpha(0.05, two, in_mirror=True) + mirror_alpha(0.05, two, in_mirror=False) == pytest.approx(0.05)
    # Without a mirror, and with a replay shadow (never judged), the alpha is untouched.
    replay: list[StrategyStep] = [ShadowStep(kind="shadow", replay="support"), one[1]]
    assert mirror_alpha(0.05, [one[1]], in_mirror=False) == 0.05
    assert mirror_alpha(0.05, replay, in_mirror=False) == 0.05
