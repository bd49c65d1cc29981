"""The target registry's pure rules: which target a spec runs on, and every address it names inside it.

The walk at the end is the issue's proof that no spec field reaches a subprocess, the file system or an HTTP
client except through an operator-defined target: it enumerates every router and metrics provider the spec's
unions can hold and every URL or file-path field anywhere in the spec, and fails when a new one appears that
the rules below do not cover.
"""

from __future__ import annotations

import json
import typing
from datetime import timedelta
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from models.policy import GoverningPolicy, resolve
from models.spec import FilePath, MetricsSpec, RolloutSpec, RouterSpec, Url, _check_path, _check_url
from models.targets import ChosenTarget, Target, for_service, url_allowed
from models.validation import validate_spec
from workflows.policy import weighted_observation
from workflows.targets import choose_target

SIM = {
    "router": {"kind": "http", "url": "http://127.0.0.1:9100/routes/{service}"},
    "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/{service}"},
    "url_prefixes": ["http://127.0.0.1:9101/v1/", "http://{service}.models.internal/"],
    "replay_sets": {"support": "/srv/replay/{service}.jsonl"},
}


def governing(**service_policy: Any) -> GoverningPolicy:
    raw = json.dumps({"default": {"approvers": ["*"], "targets": {"prod": SIM}, **service_policy}}).encode()
    found = resolve(raw, source="policy.json", service="svc")
    assert found is not None
    return found


def spec(**fields: Any) -> RolloutSpec:
    base: dict[str, Any] = {
        "service": "svc",
        "requested_by": "alice",
        "stable": {"version": "v1", "endpoint": "http://127.0.0.1:9101/v1/answer"},
        "candidate": {"version": "v2", "endpoint": "http://svc.models.internal/answer"},
        "target": "prod",
    }
    base.update(fields)
    return validate_spec({k: v for k, v in base.items() if v is not None})


# ---------------------------------------------------------------- url_allowed


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9101/v1/answer", True),
        ("http://127.0.0.1:9101/v1", True),
        ("http://127.0.0.1:9101/v1-evil/answer", False),
        ("http://127.0.0.1:9101/v2/answer", False),
        ("http://127.0.0.1:9102/v1/answer", False),
        ("https://127.0.0.1:9101/v1/answer", False),
        ("http://127.0.0.1.evil.test:9101/v1/answer", False),
        ("http://user@127.0.0.1:9101/v1/answer", False),
        ("http://127.0.0.1:9101/v1/../admin", False),
        ("http://svc.models.internal:80/x", True),
        ("http://SVC.models.internal/x", True),
    ],
)
def test_url_allowed_compares_origin_and_path_segments(url: str, allowed: bool) -> None:
    assert url_allowed(url, ["http://127.0.0.1:9101/v1/", "http://svc.models.internal/"]) is allowed


def test_no_prefixes_allow_nothing() -> None:
    assert not url_allowed("http://127.0.0.1/", [])


# ---------------------------------------------------------------- {service}


def test_service_placeholder_is_filled_everywhere() -> None:
    target = for_service(Target.model_validate(SIM), "support-assistant")
    text = target.model_dump_json()
    assert "{service}" not in text
    assert target.replay_sets["support"] == "/srv/replay/support-assistant.jsonl"
    assert target.url_prefixes[1] == "http://support-assistant.models.internal/"


# ---------------------------------------------------------------- choose_target


def test_a_named_target_comes_from_the_policy() -> None:
    chosen = choose_target(spec(), governing(), lab_mode=False)
    assert isinstance(chosen, ChosenTarget)
    assert chosen.origin == "policy" and chosen.name == "prod"
    assert chosen.target.router.model_dump()["url"] == "http://127.0.0.1:9100/routes/svc"


def test_an_unknown_target_names_the_known_ones() -> None:
    assert choose_target(spec(target="staging"), governing(), lab_mode=False) == [
        "target: 'staging' is not a target of 'svc' in policy default (targets: prod)"
    ]


def test_a_named_target_needs_a_policy_even_in_lab_mode() -> None:
    problems = choose_target(spec(), None, lab_mode=True)
    assert isinstance(problems, list) and problems[0].startswith("target: 'prod' cannot be found")


def test_every_address_outside_the_target_is_named() -> None:
    bad = spec(
        stable={"version": "v1", "endpoint": "http://169.254.169.254/"},
        preflight={"url": "http://127.0.0.1:9101/v2/score", "baseline": 0.5},
        shadow={"requests_file": "/etc/passwd"},
    )
    problems = choose_target(bad, governing(), lab_mode=False)
    assert isinstance(problems, list)
    assert [p.split(":")[0] for p in problems] == ["stable.endpoint", "preflight.url", "shadow.requests_file"]


def test_a_replay_set_is_named_not_a_file() -> None:
    good = spec(shadow={"replay": "support"})
    assert isinstance(choose_target(good, governing(), lab_mode=False), ChosenTarget)
    unknown = choose_target(spec(shadow={"replay": "other"}), governing(), lab_mode=False)
    assert unknown == ["shadow.replay: 'other' is not a replay set of target 'prod' (support)"]


INLINE = {
    "target": None,
    "router": {"kind": "http", "url": "http://127.0.0.1:1/r"},
    "metrics": {"kind": "http-json", "url": "http://127.0.0.1:1/m"},
}


@pytest.mark.parametrize(
    ("policy", "lab_mode", "origin"),
    [
        (None, True, "inline-lab"),
        ("allow", False, "inline-policy"),
        ("allow", True, "inline-policy"),
    ],
)
def test_inline_targets_run_only_where_allowed(policy: str | None, lab_mode: bool, origin: str) -> None:
    governs = None if policy is None else governing(allow_inline_targets=True)
    chosen = choose_target(spec(**INLINE), governs, lab_mode=lab_mode)
    assert isinstance(chosen, ChosenTarget) and chosen.origin == origin and chosen.name is None


@pytest.mark.parametrize("lab_mode", [False, True])
def test_inline_targets_are_refused_by_a_strict_policy_even_in_lab_mode(lab_mode: bool) -> None:
    problems = choose_target(spec(**INLINE), governing(), lab_mode=lab_mode)
    assert problems == [
        "router: policy default does not allow a spec's own router and metrics; name one of the operators' "
        "targets instead (target: prod)"
    ]


def test_without_a_policy_or_lab_mode_nothing_runs() -> None:
    problems = choose_target(spec(**INLINE), None, lab_mode=False)
    assert isinstance(problems, list) and "ROLLOUTS_LAB_MODE=true" in problems[0]


# ---------------------------------------------------------------- the walk


def _union_members(union: object) -> tuple[type[BaseModel], ...]:
    inner = get_args(union)[0] if typing.get_origin(union) is typing.Annotated else union
    return tuple(m for m in get_args(inner) if isinstance(m, type) and issubclass(m, BaseModel))


def _example(model: type[BaseModel], canary_file: str, canary_url: str) -> dict[str, Any]:
    """An instance of a provider model with every path and URL field pointing at a canary."""
    data: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name == "kind":
            data[name] = typing.get_args(field.annotation)[0]
        elif _holds(field.annotation, Url) or _holds(field.annotation, FilePath) or field.is_required():
            data[name] = canary_url if "url" in name else canary_file
    return data


def _holds(annotation: object, kind: object) -> bool:
    if annotation == kind:
        return True
    return any(_holds(arg, kind) for arg in get_args(annotation))


@pytest.mark.parametrize("router", _union_members(RouterSpec), ids=lambda m: m.__name__)
@pytest.mark.parametrize("metrics", _union_members(MetricsSpec), ids=lambda m: m.__name__)
def test_every_router_and_metrics_provider_a_spec_carries_is_refused_without_permission(
    router: type[BaseModel], metrics: type[BaseModel]
) -> None:
    """Each provider kind, with its programs, files and URLs at a canary: refused by a strict policy, by a worker
    with no policy outside lab mode, and beside a named target; the chosen target never holds the canary."""
    router_fields = _example(router, "/tmp/canary-file", "http://canary.invalid/r")
    if router_fields["kind"] == "nginx":
        router_fields["verify_url"] = "http://canary.invalid/w"
    if router_fields["kind"] == "unleash":
        router_fields["flag"] = "canary-flag"  # a name, not a path; its URL is the canary
    inline = {
        "target": None,
        "router": router_fields,
        "metrics": _example(metrics, "/tmp/canary-file", "http://canary.invalid/m"),
    }
    carried = spec(**inline)
    assert isinstance(choose_target(carried, governing(), lab_mode=False), list)
    assert isinstance(choose_target(carried, governing(), lab_mode=True), list)
    assert isinstance(choose_target(carried, None, lab_mode=False), list)
    with pytest.raises(ValueError, match="carries no router"):
        validate_spec({**carried.model_dump(mode="json", exclude_none=True), "target": "prod"})
    chosen = choose_target(spec(), governing(), lab_mode=False)
    assert isinstance(chosen, ChosenTarget) and "canary" not in chosen.model_dump_json()


CHECKED_FIELDS = {
    "router",  # a target's, or refused (walk above)
    "metrics",
    "stable.endpoint",  # under the target's url_prefixes
    "candidate.endpoint",
    "preflight.url",
    "shadow.requests_file",  # refused beside a named target; replay sets are the target's
}


def _checked_as_address(metadata: list[Any]) -> bool:
    """A field declared as ``Url`` or ``FilePath`` directly: pydantic keeps their validators in the metadata."""
    return any(getattr(m, "func", None) in {_check_url, _check_path} for m in metadata)


def _address_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every field of the spec, at any depth, that holds a URL or a file path (providers counted whole)."""
    found: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if name in {"router", "metrics"} and not prefix:
            found.add(path)
            continue
        if _holds(annotation, Url) or _holds(annotation, FilePath) or _checked_as_address(field.metadata):
            found.add(path)
        for arg in (annotation, *get_args(annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                found |= _address_fields(arg, f"{path}.")
    return found


def test_every_address_field_of_the_spec_is_checked_against_the_target() -> None:
    """A new URL or path field in the spec fails here until the target rules cover it."""
    assert _address_fields(RolloutSpec) == CHECKED_FIELDS


# ---------------------------------------------------------------- exposure-weighted observation


def test_front_loading_cannot_meet_a_weighted_observation_floor() -> None:
    front = spec(steps=[{"weight": 1, "observe": "59m"}, {"weight": 99, "observe": "1m"}], analysis_interval="1m")
    assert weighted_observation(front) == timedelta(minutes=1, seconds=35)
    default = spec()
    assert weighted_observation(default) == timedelta(hours=24, minutes=4, seconds=48) + timedelta(hours=6, minutes=48)
