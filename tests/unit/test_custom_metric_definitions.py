"""Custom metrics as the operators define them and a spec names them: validation, tightening, refusal at start
naming the field, and the definitions' digest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from models.counters import Counters
from models.criteria import Criteria
from models.custom_metrics import (
    CustomCriterion,
    CustomMetric,
    criteria_problems,
    definitions_sha256,
    effective_limit,
)
from models.policy import GoverningPolicy, resolve
from models.targets import Target
from models.validation import validate_spec
from workflows.targets import choose_target

HTTP_TARGET: dict[str, Any] = {
    "router": {"kind": "http", "url": "http://127.0.0.1:9100/routes/{service}"},
    "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/{service}"},
    "custom_metrics": {
        "critical_errors": {"kind": "count", "limit": 0},
        "refusals": {"kind": "rate", "limit": 1.5, "field": "refused"},
        "rating": {"kind": "mean", "limit": 0.5, "direction": "lower_is_worse", "bounds": [1, 5]},
    },
}
PROM_QUERY = {"value": 'sum(critical_errors_total{version="$version"})'}


def metric(**fields: Any) -> CustomMetric:
    return CustomMetric.model_validate(fields)


def governing() -> GoverningPolicy:
    raw = json.dumps({"default": {"approvers": ["*"], "targets": {"prod": HTTP_TARGET}}}).encode()
    found = resolve(raw, source="policy.json", service="svc")
    assert found is not None
    return found


def spec_with(custom: list[dict[str, Any]], **fields: Any) -> Any:
    return validate_spec(
        {
            "service": "svc",
            "requested_by": "alice",
            "stable": {"version": "v1"},
            "candidate": {"version": "v2"},
            "target": "prod",
            "criteria": {"custom": custom},
            **fields,
        }
    )


# ------------------------------------------------------------------ definitions


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "count", "limit": 0, "direction": "lower_is_worse"}, "a count is a ceiling"),
        ({"kind": "rate", "limit": 0}, "a rate's limit is a ratio"),
        ({"kind": "rate", "limit": 101}, "a rate's limit is a ratio"),
        ({"kind": "mean", "limit": 0.5, "bounds": [1, 1]}, "need low < high"),
        ({"kind": "mean", "limit": 2}, "cannot exceed the width of its bounds"),
        ({"kind": "mean", "limit": 0.1, "query": PROM_QUERY}, "a mean needs sum_squares and count"),
        ({"kind": "count", "limit": 0, "query": {**PROM_QUERY, "count": PROM_QUERY["value"]}}, "reads value only"),
        ({"kind": "count", "limit": 0, "query": {"value": "sum(critical_errors_total)"}}, "must contain $version"),
        ({"kind": "count", "limit": -1}, "greater than or equal to 0"),
        ({"kind": "gauge", "limit": 1}, "Input should be 'rate', 'mean' or 'count'"),
        ({"kind": "rate", "limit": 1.5, "window": "1h"}, "only a count has a window"),
    ],
)
def test_a_bad_definition_is_refused_saying_why(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("$", r"\$")):
        metric(**fields)


def test_a_target_needs_the_source_its_metrics_provider_reads() -> None:
    prometheus = {"kind": "prometheus", "url": "http://127.0.0.1:9090"}
    with pytest.raises(ValidationError, match=r"custom_metrics\.critical_errors\.query: a prometheus target"):
        Target.model_validate(
            {**HTTP_TARGET, "metrics": prometheus, "custom_metrics": {"critical_errors": {"kind": "count", "limit": 0}}}
        )
    with pytest.raises(ValidationError, match="an http-json target reads the answer's field"):
        Target.model_validate(
            {**HTTP_TARGET, "custom_metrics": {"critical_errors": {"kind": "count", "limit": 0, "query": PROM_QUERY}}}
        )
    Target.model_validate(
        {
            **HTTP_TARGET,
            "metrics": prometheus,
            "custom_metrics": {"c": {"kind": "count", "limit": 0, "query": PROM_QUERY}},
        }
    )


def test_a_target_without_custom_metrics_serialises_as_before() -> None:
    plain = {k: v for k, v in HTTP_TARGET.items() if k != "custom_metrics"}
    assert "custom_metrics" not in Target.model_validate(plain).model_dump_json()
    assert "custom" not in Criteria().model_dump_json()
    assert "custom" not in Counters(requests=1, errors=0).model_dump_json()


# ------------------------------------------------------------------ the spec's side


def test_a_spec_may_tighten_never_loosen() -> None:
    rate = metric(kind="rate", limit=1.5)
    assert effective_limit(rate, CustomCriterion(metric="r")) == 1.5
    assert effective_limit(rate, CustomCriterion(metric="r", limit=1.2)) == 1.2
    problems = criteria_problems([CustomCriterion(metric="r", limit=2.0)], {"r": rate}, "target 'prod'")
    assert problems == [
        "criteria.custom[0].limit: 2 is looser than the operators' limit for 'r' (1.5); a spec may only tighten it"
    ]


def test_an_unknown_name_is_refused_at_start_naming_the_field() -> None:
    chosen = choose_target(spec_with([{"metric": "refusals"}, {"metric": "complaints"}]), governing(), lab_mode=False)
    assert chosen == [
        "criteria.custom[1].metric: 'complaints' is not a custom metric of target 'prod' "
        "(critical_errors, rating, refusals)"
    ]


def test_a_name_twice_is_refused() -> None:
    chosen = choose_target(spec_with([{"metric": "refusals"}, {"metric": "refusals"}]), governing(), lab_mode=False)
    assert chosen == ["criteria.custom[1].metric: 'refusals' is named twice"]


def test_known_names_choose_the_target() -> None:
    chosen = choose_target(
        spec_with([{"metric": "critical_errors"}, {"metric": "rating", "limit": 0.25}]), governing(), lab_mode=False
    )
    assert not isinstance(chosen, list) and chosen.name == "prod"


def test_an_inline_target_has_no_custom_metrics() -> None:
    inline = spec_with(
        [{"metric": "critical_errors"}],
        target=None,
        router=HTTP_TARGET["router"] | {"url": "http://127.0.0.1:9100/routes/svc"},
        metrics=HTTP_TARGET["metrics"] | {"url": "http://127.0.0.1:9100/metrics/svc"},
    )
    chosen = choose_target(inline, None, lab_mode=True)
    assert isinstance(chosen, list) and chosen[0].startswith("criteria.custom[0].metric: 'critical_errors' is not")


def test_a_spec_names_at_most_eight_custom_metrics() -> None:
    with pytest.raises(ValidationError, match="custom\n  List should have at most 8 items"):
        Criteria.model_validate({"custom": [{"metric": f"m{i}"} for i in range(9)]})


def test_the_digest_covers_every_definition_field_and_not_the_order() -> None:
    a = {"x": metric(kind="count", limit=0), "y": metric(kind="rate", limit=1.5)}
    b = {"y": metric(kind="rate", limit=1.5), "x": metric(kind="count", limit=0)}
    assert definitions_sha256(a) == definitions_sha256(b)
    assert definitions_sha256(a) != definitions_sha256({**a, "x": metric(kind="count", limit=1)})
    assert len(definitions_sha256(a)) == 64
