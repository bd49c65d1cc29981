"""Hypothesis strategies for rollout specs, valid and broken, shared by the spec fuzz test and workflow tests.

``specs(base)`` draws, from a base spec (``VALID_BASE`` unless given):

- valid variants (``valid_specs``): optional sections added (shadow with each comparator, preflight, nginx router,
  Prometheus metrics, an approval step), steps, durations and numbers varied within the rules;
- mutations of a valid variant (``mutated_specs``): at one to three places, a value replaced by a wrong type, a
  bool or a string for a number, non-ASCII digits, a huge string or duration, deep nesting, bytes..., a field
  removed, an unknown field added, a list repeated thousands of times;
- inputs that are not a spec object (``non_objects``): ``None``, numbers, bytes, lists, JSON text good and bad,
  text over the size cap, nesting deeper than any parser's recursion limit.

A test that starts real workflows passes its own base (pointing at its simulator) and gets the same mutations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from models.durations import bounded_duration

VALID_BASE: dict[str, Any] = {
    "service": "support-assistant",
    "requested_by": "ml-engineer",
    "description": "v2: gpt-4o-mini with prompt v3 and retriever v2",
    "stable": {"version": "v1", "endpoint": "http://127.0.0.1:9101"},
    "candidate": {
        "version": "v2",
        "endpoint": "http://127.0.0.1:9102",
        "manifest": {
            "model": "gpt-4o-mini-2024-07-18",
            "system_prompt_sha": "a4f2c1",
            "temperature": 0.2,
            "max_tokens": 512,
            "streaming": False,
        },
    },
    "router": {"kind": "http", "url": "http://127.0.0.1:9100/routes/support-assistant"},
    "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/support-assistant"},
    "steps": [{"weight": 1, "observe": "30s"}, {"weight": 5, "observe": "30s"}, {"weight": 50, "observe": "45s"}],
    "analysis_interval": "5s",
    "criteria": {"min_requests": 2000, "quality_drop_max": 0.02, "alpha": 0.05},
    "rollback_triggers": {"error_rate_ratio": 2.0, "latency_p95_ratio": 1.5},
    "approvals": {
        "approvers": ["ml-lead", "sre-oncall", "product-owner"],
        "quorum": 2,
        "timeout": "15m",
        "on_timeout": "rollback",
    },
    "analysis_failures": {"max_consecutive": 3, "action": "rollback"},
    "on_inconclusive": {"extend_by": "30s", "max_extensions": 1, "then": "pause", "hold_max": "1h"},
}
"""A valid spec with every section a person commonly writes (no shadow: it needs a requests file)."""

COMPARATORS: tuple[dict[str, Any], ...] = (
    {"kind": "exact"},
    {"kind": "json-fields", "fields": ["answer", "citations"]},
    {"kind": "numeric-tolerance", "fields": ["score"], "tolerance": 0.05},
    {"kind": "text-similarity", "field": "answer", "min_similarity": 0.8},
)

SECTIONS: dict[str, dict[str, Any]] = {
    "shadow": {
        "requests_file": "docs/examples/support-requests.jsonl",
        "max_requests": 60,
        "concurrency": 4,
        "request_timeout": "10s",
        "min_agreement": 0.9,
    },
    "preflight": {"url": "http://127.0.0.1:9100/eval/v2", "score_field": "score", "baseline": 0.82, "tolerance": 0.01},
    "router": {
        "kind": "nginx",
        "config_path": "/etc/nginx/rollout/weights.conf",
        "nginx_conf": "/etc/nginx/nginx.conf",
        "pid_file": "/run/nginx.pid",
        "verify_url": "http://127.0.0.1:8080/__weights",
        "reload_timeout": "10s",
    },
    "metrics": {
        "kind": "prometheus",
        "url": "http://127.0.0.1:9090",
        "queries": {"requests": 'sum(model_requests_total{version="$version"})', "latency_unit": "seconds"},
    },
}
"""Valid optional sections (and alternative providers) a variant may add to its base."""

_MB = 1024 * 1024


def _deep_list(depth: int) -> Any:
    value: Any = "4h"
    for _ in range(depth):
        value = [value]
    return value


def _deep_dict(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


BAD_VALUES: tuple[Any, ...] = (
    True,
    False,
    None,
    0,
    -1,
    2.0,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    10**400,
    -(10**40),
    "10",
    "yes",
    "true",
    "",
    " ",
    "１０s",
    "٣h",
    "3000000d",
    "99999999999d",
    "P99999999999D",
    "91d",
    "90d1ms",
    "1e5s",
    "-5s",
    "nginx",
    "http://x",
    "http://h:99999/",
    "http://127.0.0.1:9100/a b",
    "path\x00with-nul",
    "line\nbreak",
    "x" * 41,
    "x" * 129,
    "x" * 1_001,
    "x" * 1_025,
    "x" * 2_049,
    "x" * 4_097,
    "é" * 100_000,
    "x" * _MB,
    b"4h",
    b"\xff" * 1000,
    [],
    {},
    [1] * 1000,
    {"kind": "x" * 1000},
    {"kind": ["a"] * 100},
    {"kind": None},
    {"x" * 200: 1},
    {1: 2},
    (1, 2),
    {1, 2},
    object(),
    _deep_list(40),
    _deep_list(200),
    _deep_dict(200),
)
"""Wrong types, wrong forms and wrong sizes: each is put in place of some value of a valid spec."""

EXTRA_KEYS: tuple[str, ...] = ("colour", "Weight", "", "str", "http", "a[1]", "line\nbreak", "k" * 200, "é" * 10)
"""Unknown field names, some of them shaped like pydantic's own location segments."""

REPEATS = (21, 51, 65, 1_000, 10_000)

_VALID_DURATIONS = ("1s", "5s", "30s", "90s", "PT1M", "1h30m", "2d", "90d", "P1W", 45, 7.5)


def _one_of(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    """``sampled_from`` by index: the values (1 MB strings, 10,000-deep lists) never appear in a strategy's repr."""
    return st.integers(0, len(values) - 1).map(values.__getitem__)


@st.composite
def valid_specs(draw: st.DrawFn, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A valid spec: ``base`` with optional sections added and its steps and policies varied within the rules."""
    spec: dict[str, Any] = json.loads(json.dumps(base if base is not None else VALID_BASE))
    interval = bounded_duration(spec.get("analysis_interval", "5m"))
    durations = [d for d in _VALID_DURATIONS if bounded_duration(d) >= interval]
    for name, section in SECTIONS.items():
        if draw(st.booleans()):
            spec[name] = json.loads(json.dumps(section))
    if "shadow" in spec:
        spec["shadow"]["compare"] = dict(draw(st.sampled_from(COMPARATORS)))
        spec["stable"].setdefault("endpoint", "http://127.0.0.1:9101")
        spec["candidate"].setdefault("endpoint", "http://127.0.0.1:9102")
    if draw(st.booleans()):
        weights = sorted(draw(st.sets(st.integers(1, 99), min_size=1, max_size=20)))
        halves = draw(st.booleans())
        spec["steps"] = [
            {"weight": w - 0.5 if halves else w, "observe": draw(st.sampled_from(durations))} for w in weights
        ]
        if "approvals" in spec and draw(st.booleans()):
            spec["steps"][-1]["approval"] = True
    if draw(st.booleans()):
        spec["on_inconclusive"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "extend_by": st.sampled_from([None, *durations]),
                    "max_extensions": st.integers(0, 10),
                    "then": st.sampled_from(["pause", "rollback"]),
                    "hold_max": st.sampled_from(["1s", "1h", "7d", "90d", "P90D"]),
                },
            )
        )
    return spec


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON-like value: containers and leaves, by keys and indexes."""
    out = [prefix]
    if isinstance(value, dict):
        for key, member in value.items():
            out += _paths(member, (*prefix, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            out += _paths(member, (*prefix, index))
    return out


def _with(value: Any, path: tuple[Any, ...], change: Callable[[Any], Any]) -> Any:
    """``value`` with ``change`` applied at ``path``, copying only along the path (never a deep copy)."""
    if not path:
        return change(value)
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        copy[head] = _with(value[head], rest, change)
        return copy
    items = list(value)
    items[head] = _with(value[head], rest, change)
    return items


_REMOVED = object()


def _without_removed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not _REMOVED}
    if isinstance(value, list):
        return [v for v in value if v is not _REMOVED]
    return value


@st.composite
def _mutation(draw: st.DrawFn, spec: Any) -> Any:
    path = draw(st.sampled_from(_paths(spec)))
    kind = draw(st.sampled_from(["replace", "replace", "replace", "remove", "extra", "repeat", "wrap"]))
    if kind == "replace" or (kind == "remove" and not path):
        bad = draw(_one_of(BAD_VALUES))
        return _with(spec, path, lambda _: bad)
    if kind == "remove":
        parent = _with(spec, path, lambda _: _REMOVED)
        return _with(parent, path[:-1], _without_removed)
    if kind == "extra":
        key = draw(st.sampled_from(EXTRA_KEYS))
        extra = draw(_one_of(BAD_VALUES[:20]))
        target = path if isinstance(_at(spec, path), dict) else path[:-1]
        return _with(spec, target, lambda d: {**d, key: extra} if isinstance(d, dict) else d)
    if kind == "repeat":
        times = draw(st.sampled_from(REPEATS))
        return _with(spec, path, lambda v: _repeated(v, times))
    wrap = draw(st.sampled_from([_in_list, _in_object, _as_text]))
    return _with(spec, path, wrap)


def _repeated(value: Any, times: int) -> list[Any]:
    """A list of ``times`` items: a list's own items cycled (never longer than ``times``), or the value repeated."""
    if isinstance(value, list) and value:
        return [value[index % len(value)] for index in range(max(times, len(value)))]
    return [value] * times


def _in_list(value: Any) -> Any:
    return [value]


def _in_object(value: Any) -> Any:
    return {"value": value}


def _as_text(value: Any) -> Any:
    return json.dumps(value, default=str)


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def mutated_specs(draw: st.DrawFn, base: Mapping[str, Any] | None = None) -> Any:
    """A valid variant of ``base`` broken at one to three places (most of them invalid, some still valid)."""
    spec: Any = draw(valid_specs(base))
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(spec, dict | list):
            break
        spec = draw(_mutation(spec))
    if draw(st.integers(0, 9)) == 0:  # sometimes as JSON text, as a tool would send it
        try:
            text = json.dumps(spec)
        except (TypeError, ValueError, RecursionError):
            return spec
        return text.encode() if draw(st.booleans()) else text
    return spec


NON_OBJECTS: tuple[Any, ...] = (
    None,
    0,
    1.5,
    True,
    "",
    "spec",
    b"",
    b"\xff\xfe\x00",
    bytearray(b"{}"),
    [],
    [VALID_BASE],
    (1, 2),
    "[1, 2]",
    "{not json",
    "{" * 10,
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 40_000 + "1" + "}" * 40_000,
    "1" * 5_000,
    '{"service": ' + "9" * 5_000 + "}",
    '{"service": NaN}',
    "x" * _MB,
    b"{" * 300_000,
    json.dumps(VALID_BASE),
    json.dumps(VALID_BASE).encode(),
    json.dumps({**VALID_BASE, "description": "é" * 100_000}),
    {1: 2},
    {("a",): 1},
    MappingProxyType(VALID_BASE),
    {"service": object()},
    {2**64: "x"},
    {"steps": _deep_list(10_000)},
)
"""Inputs that are no spec object, or are one only as text or as another kind of mapping."""


def non_objects() -> st.SearchStrategy[Any]:
    """One of ``NON_OBJECTS``."""
    return _one_of(NON_OBJECTS)


def specs(base: Mapping[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Valid variants, mutations (most invalid), and non-objects, in the proportions 1 : 4 : 1."""
    return st.one_of(
        valid_specs(base),
        mutated_specs(base),
        mutated_specs(base),
        mutated_specs(base),
        mutated_specs(base),
        non_objects(),
    )
