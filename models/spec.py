"""The rollout spec: the one JSON document a person writes to start a rollout.

Every field a person writes has a description, because the JSON Schema generated from these models
(``docs/rollout-spec.schema.json``) is what users read. ``validate_spec`` turns a raw JSON object into a
``RolloutSpec`` or a ``SpecError`` that names every bad field at once, relations between fields included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal, cast, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from models.criteria import Criteria, RollbackTriggers
from models.durations import Duration, format_duration


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 - evaluated for its validation of the port
    except ValueError as exc:
        raise ValueError(f"{value!r} has an invalid port") from exc
    return value


Url = Annotated[str, AfterValidator(_check_url)]
"""An absolute http(s) URL."""

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VersionRef(_Model):
    """One version of the service: what it is, where it answers, and the pinned manifest it was built from."""

    version: str = Field(pattern=_NAME, description="Version label, as the router and the metrics know it.")
    endpoint: Url | None = Field(
        default=None, description="Where this version answers requests directly (used by shadow comparison)."
    )
    manifest: dict[str, str | int | float | bool] = Field(
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
    config_path: str = Field(
        min_length=1,
        description="The weights include file, on the worker's disk, that the main configuration includes at "
        "http level. The rollout owns it and rewrites it whole; proxy_pass to http://$<variable>.",
    )
    nginx_conf: str = Field(min_length=1, description="Main configuration file (nginx -c), tested before a reload.")
    prefix: str | None = Field(default=None, description="nginx prefix path (nginx -p), when not the built-in one.")
    nginx_bin: str = Field(default="nginx", min_length=1, description="The nginx executable.")
    variable: str = Field(
        default="rollout_upstream",
        pattern=_NGINX_VAR,
        description="Variable the include sets to the chosen upstream's name; the include also defines "
        "$<variable>_key (X-User-Id when present, else the request id) and $<variable>_weights (for verify_url).",
    )
    stable_upstream: str = Field(default="stable", pattern=_NGINX_VAR, description="Upstream name of stable.")
    candidate_upstream: str = Field(default="candidate", pattern=_NGINX_VAR, description="Upstream name of candidate.")
    pid_file: str | None = Field(
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


PromQL = Annotated[str, Field(min_length=1), AfterValidator(_has_version)]


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
    fields: list[str] = Field(min_length=1, description="Fields that must agree.")


class NumericToleranceCompare(_Model):
    """The named numeric fields must agree within an absolute tolerance."""

    kind: Literal["numeric-tolerance"] = Field(description="Comparator kind.")
    fields: list[str] = Field(min_length=1, description="Numeric fields to compare.")
    tolerance: float = Field(ge=0, description="Largest absolute difference that still agrees.")


class TextSimilarityCompare(_Model):
    """A text field must be similar enough (token-set Jaccard similarity), for free-text model answers."""

    kind: Literal["text-similarity"] = Field(description="Comparator kind.")
    field: str = Field(default="answer", description="The text field to compare.")
    min_similarity: float = Field(default=0.8, gt=0, le=1, description="Similarity in (0, 1] that still agrees.")


Comparator = Annotated[
    ExactCompare | JsonFieldsCompare | NumericToleranceCompare | TextSimilarityCompare, Field(discriminator="kind")
]


class ShadowSpec(_Model):
    """Replay recorded requests to both versions, never serving the candidate's answers, and compare them."""

    requests_file: str = Field(min_length=1, description="JSONL file of request bodies, on the worker's disk.")
    max_requests: int = Field(default=200, ge=1, le=100_000, description="Replay at most this many requests.")
    concurrency: int = Field(default=8, ge=1, le=256, description="Requests in flight at once, per version.")
    request_timeout: Duration = Field(default=timedelta(seconds=10), description="Timeout of one request.")
    compare: Comparator = Field(default_factory=lambda: ExactCompare(kind="exact"), description="How to compare.")
    min_agreement: float = Field(default=0.9, gt=0, le=1, description="Share of requests that must agree.")


class PreflightSpec(_Model):
    """Eval gate before any traffic: the candidate's offline eval score must be within tolerance of a baseline."""

    url: Url = Field(description="GET returns a JSON object with the candidate's eval score.")
    score_field: str = Field(default="score", description="Field of the response that holds the score.")
    baseline: float = Field(description="Score of the stable version on the same eval suite.")
    tolerance: float = Field(default=0.0, ge=0, description="The candidate may score this much below baseline.")


class Step(_Model):
    """One canary step: move this share of traffic to the candidate, observe, optionally wait for approval."""

    weight: float = Field(gt=0, lt=100, description="Candidate traffic share in percent, in (0, 100).")
    observe: Duration = Field(description="How long to observe at this weight (paused time does not count).")
    approval: bool = Field(default=False, description="Wait for the approval quorum after observing.")


class ApprovalPolicy(_Model):
    """Who may approve a step, how many distinct approvers it takes, and what a timeout means."""

    approvers: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="Names whose approval counts."
    )
    quorum: int = Field(default=1, ge=1, description="Distinct approvers needed.")
    timeout: Duration = Field(default=timedelta(hours=24), description="How long to wait for the quorum.")
    on_timeout: Literal["rollback", "wait"] = Field(
        default="rollback", description="At timeout: roll back, or keep waiting (recorded in the timeline)."
    )


class AnalysisFailurePolicy(_Model):
    """What to do when the metrics cannot be read: never a silent pass."""

    max_consecutive: int = Field(
        default=3, ge=1, description="Analyses in a row that may fail (after retries) before the action is taken."
    )
    action: Literal["rollback", "pause"] = Field(default="rollback", description="Action once the limit is hit.")


DEFAULT_STEPS: tuple[Step, ...] = (
    Step(weight=1, observe=timedelta(hours=4)),
    Step(weight=5, observe=timedelta(hours=8)),
    Step(weight=25, observe=timedelta(hours=12)),
    Step(weight=50, observe=timedelta(hours=24)),
)


class RolloutSpec(_Model):
    """A rollout of ``candidate`` past ``stable`` for one service: the workflow's single input."""

    service: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Service name (lowercase, dashes).")
    requested_by: str = Field(min_length=1, description="Who starts the rollout; never counts as an approver.")
    description: str | None = Field(default=None, description="Why this rollout, in a line.")
    stable: VersionRef = Field(description="The version serving today.")
    candidate: VersionRef = Field(description="The version to roll out.")
    router: RouterSpec = Field(description="The traffic router to move weights on.")
    metrics: MetricsSpec = Field(description="Where the counters of both versions come from.")
    preflight: PreflightSpec | None = Field(default=None, description="Optional eval gate before any traffic.")
    shadow: ShadowSpec | None = Field(default=None, description="Optional shadow comparison before any traffic.")
    steps: list[Step] = Field(
        default_factory=lambda: list(DEFAULT_STEPS),
        min_length=1,
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

    @property
    def total_observation(self) -> timedelta:
        return sum((step.observe for step in self.steps), timedelta())


class SpecError(ValueError):
    """The spec is invalid; ``problems`` names every bad field with the reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"invalid rollout spec ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_MEMBERS or "[" in part or part in _PROVIDER_TAGS or part in _SCALAR_MEMBERS:
            continue  # pydantic's union-member segment: noise to a person
        else:
            out += f".{part}" if out else part
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
    where = _path(tuple(error["loc"]))
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        field = str(ctx.get("discriminator", "kind")).strip("'")
        return (
            f"{where}.{field}: unknown provider kind {ctx.get('tag')!r} (expected one of: {ctx.get('expected_tags')})"
        )
    if kind == "union_tag_not_found":
        return f'{where}.kind: missing (say which provider, e.g. "kind": "http")'
    if kind == "missing":
        return f"{where}: missing"
    if kind == "extra_forbidden":
        return f"{where}: unknown field (check the spelling)"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    shown = error.get("input")
    show = isinstance(shown, int | float | str) and len(repr(shown)) < 60 and repr(shown) not in message
    suffix = f" (got {shown!r})" if show else ""
    return f"{where}: {message}{suffix}"


def _describe_all(errors: list[Any]) -> list[str]:
    """One problem per field: a value that fits no member of a scalar union (the manifest's) is said once."""
    problems: list[str] = []
    scalar_union_paths: set[str] = set()
    for error in errors:
        loc = tuple(error["loc"])
        if loc and loc[-1] in _SCALAR_MEMBERS:
            path = _path(loc)
            if path not in scalar_union_paths:
                scalar_union_paths.add(path)
                problems.append(f"{path}: expected a string, number or boolean")
            continue
        problems.append(_describe(error))
    return problems


def _parsed_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Each top-level field that validates on its own, so relations can be checked beside field errors."""
    parsed: dict[str, Any] = {}
    for name, info in RolloutSpec.model_fields.items():
        if name not in data:
            if not info.is_required():
                parsed[name] = info.get_default(call_default_factory=True)
            continue
        try:
            parsed[name] = TypeAdapter(cast(Any, Annotated[info.annotation, info])).validate_python(data[name])
        except ValidationError:
            if name == "steps" and isinstance(data[name], list):
                # One bad step must not hide the others' problems: keep each step that parses on its own.
                parsed["_step_items"] = [_parse_step(item) for item in data[name]]
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
                f"approvals: requested_by {requester!r} never counts as an approver, so the other "
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


def validate_spec(data: object) -> RolloutSpec:
    """Parse a raw JSON object into a spec, or raise ``SpecError`` naming every bad field and why."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SpecError([f"(spec): not JSON: {exc}"]) from None
    if not isinstance(data, Mapping):
        raise SpecError([f"(spec): expected a JSON object, got {type(data).__name__}"])
    try:
        spec = RolloutSpec.model_validate(data)
    except ValidationError as exc:
        problems = _describe_all(exc.errors())
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
