"""The rollout spec: the one JSON document a person writes to start a rollout.

Every field a person writes has a description, because the JSON Schema generated from these models
(``docs/rollout-spec.schema.json``) is what users read. ``validate_spec`` turns a raw JSON object into a
``RolloutSpec`` or a ``SpecError`` that names the bad fields, relations between fields included.

Everything is bounded and strict. Every string, list and map has a cap (the ``MAX_*`` constants below, each
saying why), every duration is between 0 and 90 days, and the whole spec is at most ``MAX_SPEC_BYTES`` of JSON.
Types are taken as written: a number is a JSON number (``true`` is not 1, ``"10"`` is not 10), a count is an
integer (``2.0`` is refused), a flag is ``true`` or ``false`` (``"yes"`` is refused), numbers are finite. A
``SpecError`` lists at most ``MAX_PROBLEMS`` problems, each quoting at most a short prefix of a bad value, so its
message never exceeds ``MAX_SPEC_ERROR_CHARS`` whatever the input.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal, cast, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PydanticUserError,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from models.criteria import Criteria, RollbackTriggers
from models.durations import PREVIEW_CHARS, Duration, format_duration, preview

# ---------------------------------------------------------------- caps

MAX_SPEC_BYTES = 256 * 1024
"""Largest spec, as compact UTF-8 JSON, checked before anything else. A written spec is a few kilobytes; the
workflow's input, its failure and its record all carry parts of it, and must stay far below Temporal's payload
limits."""

MAX_NESTING = 16
"""Deepest nesting of objects and lists in a spec. The deepest real field (``shadow.compare.fields[0]``) is four
levels down; anything deeper is not a spec, and is refused before it reaches a recursive parser."""

MAX_NAME_CHARS = 128
"""Longest person's name (``requested_by``, approvers), manifest key, or response field name: names, not text."""

MAX_DESCRIPTION_CHARS = 1_000
"""Longest ``description``: "why this rollout, in a line", shown in the record and the UI."""

MAX_URL_CHARS = 2_048
"""Longest URL: the usual limit of browsers and servers. A 1 MB ``router.url`` made every rollback request fail
and retry forever."""

MAX_PROMQL_CHARS = 4_096
"""Longest PromQL query: a query sent on every analysis, in a URL, must stay well under servers' URL limits."""

MAX_PATH_CHARS = 1_024
"""Longest file path on the worker's disk (Linux's PATH_MAX is 4,096; real paths are far shorter)."""

MAX_STEPS = 20
"""Most canary steps. A rollout has a handful (the default has four); each step is a weight change, an
observation and entries in the record."""

MAX_APPROVERS = 50
"""Most approvers listed (and so the largest quorum): a team, not a directory."""

MAX_MANIFEST_ENTRIES = 64
"""Most manifest entries: model id, prompt file and hash, retrieval config... recorded as is in the record."""

MAX_MANIFEST_VALUE_CHARS = 1_024
"""Longest manifest string: an id, a hash, a path or a short note, never a file's content."""

MAX_MANIFEST_BYTES = 16 * 1024
"""Largest manifest as compact JSON: it is copied into the deployment record and every status."""

MAX_MANIFEST_INT = 2**53
"""Largest manifest integer (in absolute value): what every JSON reader reads exactly."""

MAX_COMPARE_FIELDS = 64
"""Most response fields a shadow comparator names."""

MAX_SHADOW_REQUESTS = 100_000
"""Most requests a shadow comparison replays: beyond that the comparison takes hours for no more evidence."""

MAX_SHADOW_CONCURRENCY = 256
"""Most shadow requests in flight per version: a replay must not load a version like production traffic."""

MAX_SCORE = 1e12
"""Largest magnitude of an eval score, a baseline or a tolerance: finite, and far beyond any real scale."""

MAX_CONSECUTIVE_FAILURES = 1_000
"""Most failed analyses in a row before the failure policy acts (about 3.5 days at the default 5m interval)."""

MAX_EXTENSIONS = 10
"""Most extensions of an inconclusive step's observation before its ``then``."""

MAX_PROBLEMS = 20
"""Most problems a ``SpecError`` lists; the rest are counted ("... and N more")."""

MAX_PROBLEM_CHARS = 300
"""Longest problem line. A path and a message are shorter; a longer line is cut (it never quotes a whole value)."""

MAX_SPEC_ERROR_CHARS = 8 * 1024
"""Largest ``SpecError`` message, in characters, whatever the input: a header (under 80), at most
``MAX_PROBLEMS`` lines of at most ``MAX_PROBLEM_CHARS`` + 5, and a count of the rest (under 40). The failure that
carries it, and its ``problems``, stay far below Temporal's payload limits."""

# ---------------------------------------------------------------- bounded field types


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{preview(value)} is not an http(s) URL with a host")
    if not value.isprintable() or " " in value:
        raise ValueError(f"{preview(value)} has spaces or control characters")
    try:
        parts.port  # noqa: B018 - evaluated for its validation of the port
    except ValueError as exc:
        raise ValueError(f"{preview(value)} has an invalid port") from exc
    return value


Url = Annotated[str, Field(max_length=MAX_URL_CHARS), AfterValidator(_check_url)]
"""An absolute http(s) URL."""


def _check_path(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a path cannot contain a NUL character")
    return value


FilePath = Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS), AfterValidator(_check_path)]
"""A file path on the worker's disk."""

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
"""A person's name, a manifest key or a response field name."""

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


def _check_manifest_value(value: str | int | float | bool) -> str | int | float | bool:
    if isinstance(value, str) and len(value) > MAX_MANIFEST_VALUE_CHARS:
        raise ValueError(f"{len(value):,} characters, more than the {MAX_MANIFEST_VALUE_CHARS:,} a value may have")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_MANIFEST_INT:
        raise ValueError(f"an integer beyond ±2**53 ({preview(value)}): write it as a string")
    return value


def _check_manifest_size(manifest: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
    size = len(json.dumps(manifest, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))
    if size > MAX_MANIFEST_BYTES:
        raise ValueError(f"{size:,} bytes of JSON, more than the {MAX_MANIFEST_BYTES:,} (16 KiB) a manifest may have")
    return manifest


ManifestValue = Annotated[
    str | int | float | bool,
    AfterValidator(_check_manifest_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_MANIFEST_VALUE_CHARS},
                {"type": "integer", "minimum": -MAX_MANIFEST_INT, "maximum": MAX_MANIFEST_INT},
                {"type": "number"},
                {"type": "boolean"},
            ]
        }
    ),
]
Manifest = Annotated[
    dict[Name, ManifestValue], Field(max_length=MAX_MANIFEST_ENTRIES), AfterValidator(_check_manifest_size)
]


def _longer_than_zero(value: timedelta) -> timedelta:
    if value <= timedelta():
        raise ValueError("must be longer than 0")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_longer_than_zero)]
"""A duration longer than 0 (and at most 90 days, as every duration)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# ---------------------------------------------------------------- the spec's parts


class VersionRef(_Model):
    """One version of the service: what it is, where it answers, and the pinned manifest it was built from."""

    version: str = Field(pattern=_NAME, description="Version label, as the router and the metrics know it.")
    endpoint: Url | None = Field(
        default=None, description="Where this version answers requests directly (used by shadow comparison)."
    )
    manifest: Manifest = Field(
        default_factory=dict,
        description="Pinned deployment manifest: model id with its date, prompt file and hash, retrieval config... "
        "Recorded as is in the deployment record.",
    )


class HttpRouter(_Model):
    """A router with an HTTP API: ``PUT {url}`` with the weights, then ``GET {url}`` returns them."""

    kind: Literal["http"] = Field(description="Provider kind.")
    url: Url = Field(description="The route's URL.")


_NGINX_VAR = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class NginxRouter(_Model):
    """nginx routing with ``split_clients``: the rollout owns one small include file holding the weights.

    Each weight change rewrites ``config_path`` atomically, runs ``nginx -t``, reloads nginx gracefully and
    verifies that the new configuration is the one serving; a failed test restores the previous file.
    """

    kind: Literal["nginx"] = Field(description="Provider kind.")
    config_path: FilePath = Field(
        description="The weights include file, on the worker's disk, that the main configuration includes at "
        "http level. The rollout owns it and rewrites it whole; proxy_pass to http://$<variable>.",
    )
    nginx_conf: FilePath = Field(description="Main configuration file (nginx -c), tested before a reload.")
    prefix: FilePath | None = Field(
        default=None, description="nginx prefix path (nginx -p), when not the built-in one."
    )
    nginx_bin: FilePath = Field(default="nginx", description="The nginx executable.")
    variable: str = Field(
        default="rollout_upstream",
        pattern=_NGINX_VAR,
        description="Variable the include sets to the chosen upstream's name; the include also defines "
        "$<variable>_key (X-User-Id when present, else the request id) and $<variable>_weights (for verify_url).",
    )
    stable_upstream: str = Field(default="stable", pattern=_NGINX_VAR, description="Upstream name of stable.")
    candidate_upstream: str = Field(default="candidate", pattern=_NGINX_VAR, description="Upstream name of candidate.")
    pid_file: FilePath | None = Field(
        default=None,
        description="nginx master's pid file: reload by SIGHUP, and without verify_url, verify the reload by "
        "the master's new worker generation. Without it, reload runs nginx -s reload.",
    )
    verify_url: Url | None = Field(
        default=None,
        description="URL served by nginx that returns $<variable>_weights (e.g. location = /__weights "
        '{ return 200 "$rollout_upstream_weights"; }): proof that the new configuration serves.',
    )
    reload_timeout: Duration = Field(
        default=timedelta(seconds=10), description="How long a reload may take to be seen serving."
    )

    @model_validator(mode="after")
    def _verifiable(self) -> NginxRouter:
        if self.verify_url is None and self.pid_file is None:
            raise ValueError("set verify_url or pid_file, so that a reload can be verified")
        if self.stable_upstream == self.candidate_upstream:
            raise ValueError("stable_upstream and candidate_upstream must differ")
        return self


RouterSpec = Annotated[HttpRouter | NginxRouter, Field(discriminator="kind")]


class HttpJsonMetrics(_Model):
    """Metrics from ``GET {url}?version=<v>``, returning cumulative counters (see ``Counters``)."""

    kind: Literal["http-json"] = Field(description="Provider kind.")
    url: Url = Field(description="The counters' URL; the version is added as a query parameter.")


def _has_version(template: str | None) -> str | None:
    if template is not None and "$version" not in template:
        raise ValueError("the query must contain $version, or both versions would read the same series")
    return template


PromQL = Annotated[str, Field(min_length=1, max_length=MAX_PROMQL_CHARS), AfterValidator(_has_version)]


class PromQueries(_Model):
    """PromQL per counter; ``$version`` is replaced by the version label. Each must return cumulative values.

    The defaults read the metrics of ``python -m simulator.model_server``. A query that returns no data is an
    analysis error (never zero): add ``or vector(0)`` where zero is a legitimate answer.
    """

    requests: PromQL = Field(
        default='sum(model_requests_total{version="$version"})', description="Requests answered, errors included."
    )
    errors: PromQL = Field(
        default='sum(model_requests_total{version="$version",status=~"5.."})', description="Failed requests."
    )
    latency_buckets: PromQL = Field(
        default='sum by (le) (model_request_duration_seconds_bucket{version="$version"})',
        description="Cumulative latency histogram: one series per bucket, with an le label.",
    )
    latency_unit: Literal["seconds", "milliseconds"] = Field(
        default="seconds", description="Unit of the le bounds (converted to milliseconds)."
    )
    quality_sum: PromQL | None = Field(
        default='sum(model_quality_sum{version="$version"})', description="Sum of quality scores; null: none."
    )
    quality_sum_squares: PromQL | None = Field(
        default='sum(model_quality_sum_squares{version="$version"})', description="Sum of squared quality scores."
    )
    quality_count: PromQL | None = Field(
        default='sum(model_quality_count{version="$version"})', description="Responses with a quality score."
    )


class PrometheusMetrics(_Model):
    """Counters from Prometheus' HTTP API (``/api/v1/query``), one instant query per counter and version."""

    kind: Literal["prometheus"] = Field(description="Provider kind.")
    url: Url = Field(description="Prometheus base URL, e.g. http://127.0.0.1:9090.")
    queries: PromQueries = Field(
        default_factory=PromQueries, description="PromQL templates; defaults fit the model server's metrics."
    )


MetricsSpec = Annotated[HttpJsonMetrics | PrometheusMetrics, Field(discriminator="kind")]


class ExactCompare(_Model):
    """Responses must be equal as JSON."""

    kind: Literal["exact"] = Field(description="Comparator kind.")


class JsonFieldsCompare(_Model):
    """The named top-level fields must be equal; other fields (timings, ids) are ignored."""

    kind: Literal["json-fields"] = Field(description="Comparator kind.")
    fields: list[Name] = Field(min_length=1, max_length=MAX_COMPARE_FIELDS, description="Fields that must agree.")


class NumericToleranceCompare(_Model):
    """The named numeric fields must agree within an absolute tolerance."""

    kind: Literal["numeric-tolerance"] = Field(description="Comparator kind.")
    fields: list[Name] = Field(min_length=1, max_length=MAX_COMPARE_FIELDS, description="Numeric fields to compare.")
    tolerance: float = Field(ge=0, le=MAX_SCORE, description="Largest absolute difference that still agrees.")


class TextSimilarityCompare(_Model):
    """A text field must be similar enough (token-set Jaccard similarity), for free-text model answers."""

    kind: Literal["text-similarity"] = Field(description="Comparator kind.")
    field: Name = Field(default="answer", description="The text field to compare.")
    min_similarity: float = Field(default=0.8, gt=0, le=1, description="Similarity in (0, 1] that still agrees.")


Comparator = Annotated[
    ExactCompare | JsonFieldsCompare | NumericToleranceCompare | TextSimilarityCompare, Field(discriminator="kind")
]


class ShadowSpec(_Model):
    """Replay recorded requests to both versions, never serving the candidate's answers, and compare them."""

    requests_file: FilePath = Field(description="JSONL file of request bodies, on the worker's disk.")
    max_requests: int = Field(
        default=200, ge=1, le=MAX_SHADOW_REQUESTS, description="Replay at most this many requests."
    )
    concurrency: int = Field(
        default=8, ge=1, le=MAX_SHADOW_CONCURRENCY, description="Requests in flight at once, per version."
    )
    request_timeout: Duration = Field(default=timedelta(seconds=10), description="Timeout of one request.")
    compare: Comparator = Field(default_factory=lambda: ExactCompare(kind="exact"), description="How to compare.")
    min_agreement: float = Field(default=0.9, gt=0, le=1, description="Share of requests that must agree.")


class PreflightSpec(_Model):
    """Eval gate before any traffic: the candidate's offline eval score must be within tolerance of a baseline."""

    url: Url = Field(description="GET returns a JSON object with the candidate's eval score.")
    score_field: Name = Field(default="score", description="Field of the response that holds the score.")
    baseline: float = Field(
        ge=-MAX_SCORE, le=MAX_SCORE, description="Score of the stable version on the same eval suite."
    )
    tolerance: float = Field(
        default=0.0, ge=0, le=MAX_SCORE, description="The candidate may score this much below baseline."
    )


class Step(_Model):
    """One canary step: move this share of traffic to the candidate, observe, optionally wait for approval."""

    weight: float = Field(gt=0, lt=100, description="Candidate traffic share in percent, in (0, 100).")
    observe: Duration = Field(description="How long to observe at this weight (paused time does not count).")
    approval: bool = Field(default=False, description="Wait for the approval quorum after observing.")


class ApprovalPolicy(_Model):
    """Who may approve a step, how many distinct approvers it takes, and what a timeout means."""

    approvers: list[Name] = Field(min_length=1, max_length=MAX_APPROVERS, description="Names whose approval counts.")
    quorum: int = Field(default=1, ge=1, le=MAX_APPROVERS, description="Distinct approvers needed (an integer).")
    timeout: Duration = Field(default=timedelta(hours=24), description="How long to wait for the quorum.")
    on_timeout: Literal["rollback", "wait"] = Field(
        default="rollback", description="At timeout: roll back, or keep waiting (recorded in the timeline)."
    )


class AnalysisFailurePolicy(_Model):
    """What to do when the metrics cannot be read: never a silent pass."""

    max_consecutive: int = Field(
        default=3,
        ge=1,
        le=MAX_CONSECUTIVE_FAILURES,
        description="Analyses in a row that may fail (after retries) before the action is taken.",
    )
    action: Literal["rollback", "pause"] = Field(default="rollback", description="Action once the limit is hit.")


class InconclusivePolicy(_Model):
    """What a step does when its observation ends and not every criterion says pass."""

    extend_by: PositiveDuration | None = Field(
        default=None,
        description="How much longer to observe, per extension; null: the step's own observe time. "
        "The observation ends early once every criterion passes.",
    )
    max_extensions: int = Field(default=1, ge=0, le=MAX_EXTENSIONS, description="Extensions before `then` (0 to 10).")
    then: Literal["pause", "rollback"] = Field(
        default="pause",
        description="After the last extension: pause holds the step for a person (an approver may promote with "
        "a reason, anyone may abort) while analyses go on, a pass moving on and a failure rolling back; "
        "rollback rolls back at once.",
    )
    hold_max: PositiveDuration = Field(
        default=timedelta(days=7),
        description="How long a held step waits for evidence or a person before rolling back (at most 90 days).",
    )


DEFAULT_STEPS: tuple[Step, ...] = (
    Step(weight=1, observe=timedelta(hours=4)),
    Step(weight=5, observe=timedelta(hours=8)),
    Step(weight=25, observe=timedelta(hours=12)),
    Step(weight=50, observe=timedelta(hours=24)),
)


class RolloutSpec(_Model):
    """A rollout of ``candidate`` past ``stable`` for one service: the workflow's single input."""

    service: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Service name (lowercase, dashes).")
    requested_by: Name = Field(description="Who starts the rollout; never counts as an approver.")
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] | None = Field(
        default=None, description="Why this rollout, in a line."
    )
    stable: VersionRef = Field(description="The version serving today.")
    candidate: VersionRef = Field(description="The version to roll out.")
    router: RouterSpec = Field(description="The traffic router to move weights on.")
    metrics: MetricsSpec = Field(description="Where the counters of both versions come from.")
    preflight: PreflightSpec | None = Field(default=None, description="Optional eval gate before any traffic.")
    shadow: ShadowSpec | None = Field(default=None, description="Optional shadow comparison before any traffic.")
    steps: list[Step] = Field(
        default_factory=lambda: list(DEFAULT_STEPS),
        min_length=1,
        max_length=MAX_STEPS,
        description="Canary steps in order; 100% follows the last. Default: 1% 4h, 5% 8h, 25% 12h, 50% 24h.",
    )
    analysis_interval: Duration = Field(default=timedelta(minutes=5), description="Time between analyses.")
    criteria: Criteria = Field(default_factory=Criteria, description="Success criteria, fixed at start.")
    rollback_triggers: RollbackTriggers = Field(
        default_factory=RollbackTriggers, description="Hard triggers: immediate rollback."
    )
    approvals: ApprovalPolicy | None = Field(default=None, description="Required when a step asks for approval.")
    analysis_failures: AnalysisFailurePolicy = Field(
        default_factory=AnalysisFailurePolicy, description="Policy when metrics cannot be read."
    )
    on_inconclusive: InconclusivePolicy = Field(
        default_factory=InconclusivePolicy,
        description="When a step's observation ends without every criterion passing: extend it, then hold the "
        "step for a person or roll back. Default: one extension of the step's observe time, then hold up to 7d.",
    )
    accept_untestable: list[Literal["latency_p95", "quality"]] = Field(
        default_factory=list,
        max_length=2,
        description="Criteria the metrics may be unable to test (latency buckets too coarse for the p95 limit, no "
        "quality scores), accepted on the coarser evidence there is: never required to pass, recorded as such. "
        "Any other untestable criterion ends the rollout at the first reading that shows it, before traffic moves "
        "when stable's own metrics already show it.",
    )

    @property
    def total_observation(self) -> timedelta:
        """The steps' observe times added up (extensions and holds not included)."""
        return sum((step.observe for step in self.steps), timedelta())


# ---------------------------------------------------------------- errors


class SpecError(ValueError):
    """The spec is invalid: ``problems`` names bad fields with the reason, each starting with the field's path.

    At most ``MAX_PROBLEMS`` are kept (``omitted`` counts the rest, ``total`` all of them), each at most
    ``MAX_PROBLEM_CHARS`` long, so the message is at most ``MAX_SPEC_ERROR_CHARS`` characters.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        if isinstance(problems, str):  # one problem, or the message itself (an unpickled SpecError)
            problems = [problems]
        self.total = len(problems)
        self.problems = [_clip(problem) for problem in problems[:MAX_PROBLEMS]]
        self.omitted = self.total - len(self.problems)
        lines = [f"  - {problem}" for problem in self.problems]
        if self.omitted:
            lines.append(f"  ... and {self.omitted:,} more")
        super().__init__(
            f"invalid rollout spec ({self.total:,} problem{'s' if self.total != 1 else ''}):\n" + "\n".join(lines)
        )


def _clip(problem: str) -> str:
    line = " ".join(problem.splitlines())
    return line if len(line) <= MAX_PROBLEM_CHARS else line[: MAX_PROBLEM_CHARS - 3] + "..."


def path_segment(name: str) -> str:
    """A field name as a problem's path shows it: as is when short and printable, else a bounded quoted preview."""
    return name if len(name) <= PREVIEW_CHARS and name.isprintable() else preview(name)


def _path(loc: tuple[int | str, ...], last_is_key: bool = False) -> str:
    out = ""
    for index, part in enumerate(loc):
        named = (last_is_key and index == len(loc) - 1) or (index > 0 and loc[index - 1] == "manifest")
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if not named and (part in _UNION_MEMBERS or "[" in part or part in _PROVIDER_TAGS or part in _SCALAR_MEMBERS):
            continue  # pydantic's union-member segment: noise to a person
        segment = path_segment(part)
        out += f".{segment}" if out else segment
    return out or "(spec)"


def _members(union: object) -> tuple[type[BaseModel], ...]:
    """The model classes of an ``Annotated[A | B, Field(discriminator=...)]`` union."""
    return cast(tuple[type[BaseModel], ...], get_args(get_args(union)[0]))


def _tag(model: type[BaseModel]) -> str:
    return str(get_args(model.model_fields["kind"].annotation)[0])


_PROVIDER_UNIONS = (RouterSpec, MetricsSpec, Comparator)
# Derived from the unions, so a new provider or comparator touches only its own class (and the factory).
# pydantic names a union member in an error's location by its tag or its class name: noise to a person.
_PROVIDER_TAGS = frozenset(_tag(m) for union in _PROVIDER_UNIONS for m in _members(union))
_UNION_MEMBERS = frozenset(m.__name__ for union in _PROVIDER_UNIONS for m in _members(union))
_SCALAR_MEMBERS = {"str", "int", "float", "bool"}  # pydantic names the member of a scalar union it tried


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        field = str(ctx.get("discriminator", "kind")).strip("'")
        return (
            f"{_path(loc)}.{field}: unknown provider kind {preview(ctx.get('tag'))} "
            f"(expected one of: {ctx.get('expected_tags')})"
        )
    if kind == "union_tag_not_found":
        return f'{_path(loc)}.kind: missing (say which provider, e.g. "kind": "http")'
    if kind == "missing":
        return f"{_path(loc)}: missing"
    if kind == "extra_forbidden":
        return f"{_path(loc, last_is_key=True)}: unknown field (check the spelling)"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if loc and loc[-1] == "[key]":
        message = f"the key: {message}"
    shown = error.get("input")
    suffix = ""
    if isinstance(shown, int | float | str | bytes) and (quoted := preview(shown)) not in message:
        suffix = f" (got {quoted})"
    return f"{_path(loc)}: {message}{suffix}"


def _describe_all(errors: list[Any]) -> list[str]:
    """One problem per field: a value that fits no member of a scalar union (the manifest's) is said once."""
    problems: list[str] = []
    scalar_union_paths: set[str] = set()
    for error in errors:
        loc = tuple(error["loc"])
        if len(loc) > 1 and loc[-1] in _SCALAR_MEMBERS and loc[-2] != "manifest":
            path = _path(loc)
            if path not in scalar_union_paths:
                scalar_union_paths.add(path)
                problems.append(f"{path}: expected a string, number or boolean")
            continue
        problems.append(_describe(error))
    return problems


# ---------------------------------------------------------------- the raw input, before pydantic


def _load_json(text: str | bytes) -> object:
    if isinstance(text, bytes) or len(text) > MAX_SPEC_BYTES:
        size = len(text)  # a str longer than the cap has at least as many bytes
    else:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        raise SpecError([f"(spec): {size:,} bytes or more, more than the {MAX_SPEC_BYTES:,} (256 KiB) a spec may have"])
    try:
        return json.loads(text)
    except RecursionError:
        raise SpecError([f"(spec): not JSON: nested more than {MAX_NESTING} levels deep"]) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the integer digits limit
        raise SpecError([f"(spec): not JSON: {exc}"]) from None


def _join(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{path_segment(part)}" if out else path_segment(part)
    return out


class _Size:
    """What a walk of the raw input found: its size as compact UTF-8 JSON, and its longest string and where."""

    def __init__(self) -> None:
        self.bytes = 0
        self.longest: tuple[int, str | None, tuple[int | str, ...]] = (0, None, ())
        self.problem: str | None = None


def _json_size(value: object, where: tuple[int | str, ...], budget: int) -> _Size:
    """Walk ``value`` until its size passes ``budget``.

    Iterative, and each node counts at least a byte, so at most ``budget`` nodes are visited whatever the input.
    """
    found = _Size()
    stack: list[tuple[object, tuple[int | str, ...]]] = [(value, where)]
    while stack and found.bytes <= budget:
        item, path = stack.pop()
        if isinstance(item, str):
            found.bytes += len(item) + 2 if len(item) > budget else len(item.encode("utf-8", "surrogatepass")) + 2
            if len(item) > found.longest[0]:
                found.longest = (len(item), item, path)
        elif isinstance(item, Mapping | list | tuple):
            if len(path) > MAX_NESTING:
                found.problem = f"{_join(path[:1])}: nested more than {MAX_NESTING} levels deep"
                return found
            found.bytes += 2 + 2 * len(item)  # brackets, separators, a byte per member at least: before walking
            if found.bytes > budget:
                break
            if isinstance(item, Mapping):
                for key, member in item.items():
                    if not isinstance(key, str):
                        found.problem = f"{_join(path) or '(spec)'}: field names must be strings (got {preview(key)})"
                        return found
                    stack.append((key, (*path, key)))
                    stack.append((member, (*path, key)))
            else:
                stack.extend((member, (*path, index)) for index, member in enumerate(item))
        elif isinstance(item, bool) or item is None:
            found.bytes += 5
        elif isinstance(item, int):
            found.bytes += item.bit_length() * 3 // 10 + 2
        elif isinstance(item, float):
            found.bytes += len(repr(item))
        else:
            found.bytes += 1  # not a JSON value: the models refuse it with its path
    return found


def _raw_problems(data: Mapping[Any, Any]) -> list[str]:
    """Size, nesting and key types of the raw input, before it reaches pydantic (bounded work, no recursion).

    A spec over the size cap is refused naming its longest string when that string alone is most of the excess
    (a 1 MB value), else its largest top-level field (10,000 steps).
    """
    found = _json_size(data, (), MAX_SPEC_BYTES)
    if found.problem:
        return [found.problem]
    if found.bytes <= MAX_SPEC_BYTES:
        return []
    length, text, path = found.longest
    if text is not None and length > MAX_SPEC_BYTES // 4:
        return [f"{_join(path)}: too large for a spec of at most {_SIZE_CAP} of JSON (got {preview(text)})"]
    if 2 * len(data) > MAX_SPEC_BYTES:
        return [f"(spec): too large: {len(data):,} fields, in a spec of at most {_SIZE_CAP} of JSON"]
    sizes: dict[str, int] = {}
    budget = 2 * MAX_SPEC_BYTES  # shared by the fields, so this second walk is bounded too
    for key, value in data.items():
        sizes[key] = _json_size(value, (key,), min(MAX_SPEC_BYTES, budget)).bytes
        budget -= sizes[key]
        if budget <= 0:
            break
    largest = max(sizes, key=lambda key: sizes[key])
    return [
        f"{_join((largest,))}: too large: a spec may have at most {_SIZE_CAP} of JSON, and this field alone has "
        f"{sizes[largest]:,} bytes or more"
    ]


_SIZE_CAP = f"{MAX_SPEC_BYTES:,} bytes ({MAX_SPEC_BYTES // 1024} KiB)"


# ---------------------------------------------------------------- relations between fields


@functools.cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    info = RolloutSpec.model_fields[name]
    annotated = cast(Any, Annotated[info.annotation, info])
    try:
        return TypeAdapter(annotated, config=ConfigDict(strict=True, allow_inf_nan=False))
    except PydanticUserError:  # a model field: the model's own (strict) config applies
        return TypeAdapter(annotated)


def _parsed_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Each top-level field that validates on its own, so relations can be checked beside field errors."""
    parsed: dict[str, Any] = {}
    for name, info in RolloutSpec.model_fields.items():
        if name not in data:
            if not info.is_required():
                parsed[name] = info.get_default(call_default_factory=True)
            continue
        try:
            parsed[name] = _field_adapter(name).validate_python(data[name])
        except ValidationError:
            if name == "steps" and isinstance(data[name], list):
                # One bad step must not hide the others' problems: keep each step that parses on its own.
                parsed["_step_items"] = [_parse_step(item) for item in data[name][:MAX_STEPS]]
    return parsed


def _parse_step(item: object) -> Step | None:
    try:
        return Step.model_validate(item)
    except ValidationError:
        return None


def _relation_problems(fields: Mapping[str, Any]) -> list[str]:
    """Rules that tie fields together; each runs only when the fields it needs are valid."""
    problems: list[str] = []
    items: list[Step | None] = fields.get("steps") or fields.get("_step_items") or []
    steps = [step for step in items if step is not None]
    approvals: ApprovalPolicy | None = fields.get("approvals")
    for index in range(1, len(items)):
        before, step = items[index - 1], items[index]
        if before is not None and step is not None and step.weight <= before.weight:
            problems.append(
                f"steps[{index}].weight: weights must strictly increase ({before.weight:g} then {step.weight:g})"
            )
    for index, maybe in enumerate(items):
        if maybe is not None and maybe.observe <= timedelta():
            problems.append(f"steps[{index}].observe: must be longer than 0 (got {format_duration(maybe.observe)})")
    if any(step.approval for step in steps) and "approvals" in fields and approvals is None:
        problems.append("approvals: missing, but a step asks for approval")
    interval: timedelta | None = fields.get("analysis_interval")
    if interval is not None:
        if interval <= timedelta():
            problems.append(f"analysis_interval: must be longer than 0 (got {format_duration(interval)})")
        elif (positive := [step.observe for step in steps or [] if step.observe > timedelta()]) and interval > min(
            positive
        ):
            shortest = min(positive)
            problems.append(
                f"analysis_interval: {format_duration(interval)} is longer than the shortest step "
                f"({format_duration(shortest)}), which would then never be analysed"
            )
    inconclusive: InconclusivePolicy | None = fields.get("on_inconclusive")
    if (
        interval is not None
        and inconclusive is not None
        and inconclusive.extend_by is not None
        and inconclusive.extend_by < interval
    ):
        problems.append(
            f"on_inconclusive.extend_by: {format_duration(inconclusive.extend_by)} is shorter than "
            f"analysis_interval ({format_duration(interval)}), so an extension could end before its first analysis"
        )
    if approvals is not None:
        distinct = set(approvals.approvers)
        if len(distinct) != len(approvals.approvers):
            problems.append("approvals.approvers: lists a name more than once")
        if approvals.quorum > len(distinct):
            problems.append(
                f"approvals.quorum: {approvals.quorum} is more than the {len(distinct)} distinct approvers listed"
            )
        elif (requester := fields.get("requested_by")) in distinct and approvals.quorum > len(distinct - {requester}):
            problems.append(
                f"approvals: requested_by {preview(requester)} never counts as an approver, so the other "
                f"{len(distinct - {requester})} approver(s) cannot reach quorum {approvals.quorum}"
            )
        if approvals.timeout <= timedelta():
            problems.append("approvals.timeout: must be longer than 0")
    stable: VersionRef | None = fields.get("stable")
    candidate: VersionRef | None = fields.get("candidate")
    if stable and candidate and stable.version == candidate.version:
        problems.append(f"candidate.version: same as stable ({stable.version!r})")
    if fields.get("shadow") is not None:
        for side, ref in (("stable", stable), ("candidate", candidate)):
            if ref is not None and ref.endpoint is None:
                problems.append(f"{side}.endpoint: missing, but shadow comparison needs it")
    return problems


# ---------------------------------------------------------------- entry points


def validate_spec(data: object) -> RolloutSpec:
    """Parse a raw JSON object (or its text) into a spec, or raise ``SpecError`` naming the bad fields and why.

    Checks, in order: the size of the text (at most ``MAX_SPEC_BYTES``), that it is a JSON object, the size,
    nesting and key types of the object, then every field and the relations between fields. The work is bounded
    by the size cap, and every problem starts with a field's path or ``(spec)``.
    """
    if isinstance(data, str | bytes):
        data = _load_json(data)
    if not isinstance(data, Mapping):
        raise SpecError([f"(spec): expected a JSON object, got {type(data).__name__[:PREVIEW_CHARS]}"])
    if problems := _raw_problems(data):
        raise SpecError(problems)
    data = dict(data)
    try:
        spec = RolloutSpec.model_validate(data)
    except ValidationError as exc:
        problems = _describe_all(exc.errors(include_url=False))
        problems += [p for p in _relation_problems(_parsed_fields(data)) if p not in problems]
        raise SpecError(problems) from None
    problems = _relation_problems({name: getattr(spec, name) for name in RolloutSpec.model_fields})
    if problems:
        raise SpecError(problems)
    return spec


def criteria_fingerprint(spec: RolloutSpec) -> str:
    """SHA-256 of the pre-registered criteria and triggers, so the record proves they never changed."""
    document = {
        "criteria": spec.criteria.model_dump(mode="json"),
        "rollback_triggers": spec.rollback_triggers.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
