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

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from models.compare import (
    Comparator,
    ExactCompare,
    JsonFieldsCompare,
    NumericToleranceCompare,
    TextSimilarityCompare,
)
from models.criteria import DEFAULT_UNTESTABLE_RATIO_MAX, MAX_RATIO, Criteria, RollbackTriggers
from models.durations import Duration, preview
from models.limits import (
    MAX_APPROVERS,
    MAX_CONSECUTIVE_FAILURES,
    MAX_DESCRIPTION_CHARS,
    MAX_EXTENSIONS,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_ENTRIES,
    MAX_MANIFEST_INT,
    MAX_MANIFEST_VALUE_CHARS,
    MAX_NAME_CHARS,
    MAX_PATH_CHARS,
    MAX_PROMQL_CHARS,
    MAX_SCORE,
    MAX_SEGMENTS,
    MAX_SHADOW_CONCURRENCY,
    MAX_SHADOW_REQUESTS,
    MAX_SIGNATURE_CHARS,
    MAX_STEPS,
    MAX_URL_CHARS,
)
from models.pipeline_stage import PipelineStage
from models.strategy import Step, Strategy, canary_steps

__all__ = [  # these live in models.strategy and models.compare; kept importable from here
    "Comparator",
    "ExactCompare",
    "JsonFieldsCompare",
    "NumericToleranceCompare",
    "Step",
    "TextSimilarityCompare",
]

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


def _check_instant(value: str) -> str:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{preview(value)} is not an ISO 8601 instant such as 2026-01-31T12:00:00Z") from None
    if at.tzinfo is None:
        raise ValueError("must carry a time zone, e.g. 2026-01-31T12:00:00Z")
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
    mirror_location: str | None = Field(
        default=None,
        pattern=r"^/[A-Za-z0-9_./-]{0,100}$",
        # Absent while unset: a target an older release carried keeps its JSON and digest.
        exclude_if=lambda value: value is None,
        description="The internal location the main configuration mirrors every request to (mirror <location>;) "
        "and which proxies the copy to the candidate only while $<variable>_mirror is 1 (else return 204). Set, "
        "the include defines $<variable>_mirror and a shadow item can mirror live traffic; unset, it cannot.",
    )

    @model_validator(mode="after")
    def _verifiable(self) -> NginxRouter:
        if self.verify_url is None and self.pid_file is None:
            raise ValueError("set verify_url or pid_file, so that a reload can be verified")
        if self.stable_upstream == self.candidate_upstream:
            raise ValueError("stable_upstream and candidate_upstream must differ")
        return self


_HAPROXY_NAME = r"^[A-Za-z0-9_.:-]{1,63}$"
"""A HAProxy backend or server name: the characters HAProxy allows. No space, ``;`` or newline can reach the admin
socket, where ``;`` separates commands and a newline ends them."""
_STICKY_NAME = r"^[A-Za-z0-9_-]{1,63}$"
"""A header or cookie name: letters, digits, ``-`` and ``_`` (a subset of HTTP's tokens that HAProxy's
configuration takes as written, with no quoting or variable expansion)."""


_HaproxyHeader = Annotated[str, Field(pattern=_STICKY_NAME)]
_HaproxyMapPath = Annotated[
    str, Field(min_length=1, max_length=MAX_PATH_CHARS, pattern=r"^/[A-Za-z0-9_./-]+$"), AfterValidator(_check_path)
]
"""A runtime map file: an absolute path with no space or ``;``, as it is sent on the admin socket."""


class HaproxySticky(_Model):
    """What keeps a user on one version: the key HAProxy hashes onto its consistent-hash ring.

    With ``hash-type consistent``, raising the candidate's weight only adds candidate points to the ring and
    lowering stable's only removes stable ones, so a user on the candidate stays there as its share grows.
    """

    by: Literal["header", "cookie"] = Field(
        default="header", description="Hash a request header (balance hdr(name)) or a cookie (req.cook(name))."
    )
    name: str = Field(
        default="X-User-Id",
        pattern=_STICKY_NAME,
        description="The header or cookie that names the user; requests without it are spread by weight.",
    )


class HaproxyRouter(_Model):
    """HAProxy routing by server weights changed through its Runtime API (the admin socket): no reload.

    One weight change sends ``set weight`` for both servers on the admin socket, reads them back with
    ``get weight``, then writes ``show servers state`` of the backend to ``state_file``, which the configuration
    loads at start (``load-server-state-from-file local``), so a restarted HAProxy comes back with these weights.
    """

    kind: Literal["haproxy"] = Field(description="Provider kind.")
    socket_path: FilePath = Field(
        description="HAProxy's admin socket (stats socket ... level admin), a UNIX socket on the worker's host.",
    )
    backend: str = Field(
        default="rollout", pattern=_HAPROXY_NAME, description="The backend holding the stable and candidate servers."
    )
    stable_server: str = Field(default="stable", pattern=_HAPROXY_NAME, description="Server name of stable.")
    candidate_server: str = Field(default="candidate", pattern=_HAPROXY_NAME, description="Server name of candidate.")
    state_file: FilePath = Field(
        description="The backend's server state file (server-state-file-name, with load-server-state-from-file "
        "local): rewritten after every change, so a HAProxy restart comes back with the last weights.",
    )
    sticky: HaproxySticky = Field(
        default_factory=HaproxySticky,
        description="The header or cookie the backend hashes (hash-type consistent) to keep users on a version.",
    )
    command_timeout: Duration = Field(
        default=timedelta(seconds=5), description="How long one exchange on the admin socket may take."
    )
    segment_maps: dict[_HaproxyHeader, _HaproxyMapPath] = Field(
        default_factory=dict,
        max_length=MAX_SEGMENTS,
        # Absent while empty: a target carried in an older rollout's state keeps its JSON and digest.
        exclude_if=lambda value: not value,
        description="Targeting: the request headers a step's segments may match (X-Region for a region), each "
        "with the runtime map file its frontend ACLs read (see docs/haproxy.md). Empty: shares of all users only.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> HaproxyRouter:
        if self.stable_server == self.candidate_server:
            raise ValueError("stable_server and candidate_server must differ")
        headers = [header.lower() for header in self.segment_maps]
        if len(set(headers)) != len(headers):
            raise ValueError("segment_maps names a header twice (header names are case-insensitive)")
        if len(set(self.segment_maps.values())) != len(self.segment_maps):
            raise ValueError("segment_maps gives two headers the same map file")
        return self


_FLAG_NAME = r"^(?:[A-Za-z0-9._-]|\{service\}){1,100}$"
"""An Unleash flag name (URL-friendly), with ``{service}`` allowed for a policy's shared target."""
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class UnleashRouter(_Model):
    """A feature flag on an Unleash server, driven through its Admin API: the candidate's exposure is the flag.

    Each step sets the flag's one gradual-rollout strategy (``flexibleRollout``: percentage, sticky on the user
    id) with a constraint per segment, enables the flag in ``environment`` and reads it back; a rollback or a
    kill disables the flag there first, then sets 0% with no constraints. Gateways evaluate the flag with an
    Unleash SDK: the flag on for a user means the candidate. The rollout owns the flag: other strategies on it are
    removed. Whole percentages only (Unleash's rollout parameter is an integer).
    """

    kind: Literal["unleash"] = Field(description="Provider kind.")
    url: Url = Field(description="The Unleash server's base URL, e.g. http://127.0.0.1:4242.")
    token_env: str = Field(
        default="UNLEASH_ADMIN_TOKEN",
        pattern=_ENV_NAME,
        description="Environment variable of the worker holding an Unleash admin API token (never the token "
        "itself: the target is recorded in the workflow's history).",
    )
    project: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]{1,100}$", description="Unleash project.")
    environment: str = Field(
        default="production", pattern=r"^[A-Za-z0-9._-]{1,100}$", description="Unleash environment of the flag."
    )
    flag: str = Field(
        pattern=_FLAG_NAME,
        description="The flag whose 'on' means the candidate, e.g. {service}-candidate; created when missing.",
    )
    stickiness: str = Field(
        default="userId",
        pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$",
        description="Context field the rollout percentage hashes, so a user keeps their version across steps.",
    )
    request_timeout: Duration = Field(
        default=timedelta(seconds=5), description="How long one Admin API request may take."
    )


RouterSpec = Annotated[HttpRouter | NginxRouter | HaproxyRouter | UnleashRouter, Field(discriminator="kind")]


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
        default='sum by ($series) (model_requests_total{version="$version"})',
        description="Requests answered, errors included.",
    )
    errors: PromQL = Field(
        default='sum by ($series) (model_requests_total{version="$version",status=~"5.."})',
        description="Failed requests.",
    )
    latency_buckets: PromQL = Field(
        default='sum by (le, $series) (model_request_duration_seconds_bucket{version="$version"})',
        description="Cumulative latency histogram: one series per bucket, with an le label.",
    )
    latency_unit: Literal["seconds", "milliseconds"] = Field(
        default="seconds", description="Unit of the le bounds (converted to milliseconds)."
    )
    quality_sum: PromQL | None = Field(
        default='sum by ($series) (model_quality_sum{version="$version"})',
        description="Sum of quality scores; null: none.",
    )
    quality_sum_squares: PromQL | None = Field(
        default='sum by ($series) (model_quality_sum_squares{version="$version"})',
        description="Sum of squared quality scores.",
    )
    quality_count: PromQL | None = Field(
        default='sum by ($series) (model_quality_count{version="$version"})',
        description="Responses with a quality score.",
    )
    series_by: str | None = Field(
        default="instance",
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        max_length=MAX_NAME_CHARS,
        description="Label naming each serving process (instance, pod): ``$series`` in a query is replaced by it, and "
        "every query answers one series per process, so the judge handles a restart per process (one pod "
        "restarting adds only its own counts). null: ``$series`` is replaced by nothing and each query must "
        "answer one series (the whole version's sum).",
    )
    input_features: PromQL | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent from older specs' JSON, records and digests
        description="Requests per input feature and value, one series each with feature and value labels, for the "
        'input_drift criterion; e.g. sum by (feature, value) (model_input_requests_total{version="$version"}). '
        "Null: not read.",
    )


class PrometheusMetrics(_Model):
    """Counters from Prometheus' HTTP API (``/api/v1/query``), one instant query per counter and version."""

    kind: Literal["prometheus"] = Field(description="Provider kind.")
    url: Url = Field(description="Prometheus base URL, e.g. http://127.0.0.1:9090.")
    queries: PromQueries = Field(
        default_factory=PromQueries, description="PromQL templates; defaults fit the model server's metrics."
    )


MetricsSpec = Annotated[HttpJsonMetrics | PrometheusMetrics, Field(discriminator="kind")]


class ShadowSpec(_Model):
    """Replay recorded requests to both versions, never serving the candidate's answers, and compare them."""

    replay: Annotated[str, Field(pattern=_NAME)] | None = Field(
        default=None,
        description="Recorded requests to replay: the name of one of the target's replay_sets (the operators "
        "keep the files).",
    )
    requests_file: FilePath | None = Field(
        default=None,
        description="JSONL file of request bodies on the worker's disk: inline targets only (labs, tests); with a "
        "named target, use replay.",
    )
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


MAX_EVAL_CONCURRENCY = 32


class EvalSpec(_Model):
    """What a spec may ask of the eval gate: which of the target's suites, and how hard to press the endpoints."""

    suite: Annotated[str, Field(pattern=_NAME)] = Field(
        description="One of the target's eval_suites (the operators keep the file, its grader and its baseline)."
    )
    concurrency: int = Field(default=8, ge=1, le=MAX_EVAL_CONCURRENCY, description="Cases in flight at once.")
    request_timeout: Duration = Field(default=timedelta(seconds=30), description="Timeout of one answer.")


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
    target: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = Field(
        default=None,
        description="The operators' target to roll out on (e.g. staging, production): its router, metrics and "
        "allowed URLs come from the worker's policy, never from the spec.",
    )
    router: RouterSpec | None = Field(
        default=None,
        description="An inline router instead of a target: labs and tests only, where the policy allows inline "
        "targets (or a worker in lab mode without a policy).",
    )
    metrics: MetricsSpec | None = Field(
        default=None, description="Inline metrics instead of a target, with an inline router (labs and tests)."
    )
    preflight: PreflightSpec | None = Field(default=None, description="Optional eval gate before any traffic.")
    shadow: ShadowSpec | None = Field(default=None, description="Optional shadow comparison before any traffic.")
    eval: EvalSpec | None = Field(
        default=None,
        description="Optional eval suite gate before any traffic: one of the target's eval_suites, run against both "
        "versions' endpoints and held to its locked baseline score (docs/pipelines.md).",
    )
    steps: list[Step] = Field(
        default_factory=lambda: list(DEFAULT_STEPS),
        min_length=1,
        max_length=MAX_STEPS,
        description="Canary steps in order; 100% follows the last. Default: 1% 4h, 5% 8h, 25% 12h, 50% 24h.",
    )
    strategy: Strategy | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent from the JSON of specs in the steps shape
        description="The rollout's steps as a tagged union, instead of steps: canary (weight, observe), analysis "
        "(judge at the current weight for a duration), pause (until a signed promote, or a duration), approval "
        "(the approvals quorum), ab_test (a split judged until a winner on a primary metric) and, last, watch "
        "(judge the promoted candidate against stable's pre-rollout baseline, switching back at once on a failure). "
        "100% follows the last item before the watch. docs/strategies.md.",
    )
    analysis_interval: Duration = Field(default=timedelta(minutes=5), description="Time between analyses.")
    criteria: Criteria = Field(default_factory=Criteria, description="Success criteria, fixed at start.")
    rollback_triggers: RollbackTriggers = Field(
        default_factory=RollbackTriggers, description="Hard triggers: immediate rollback."
    )
    approvals: ApprovalPolicy | None = Field(default=None, description="Required when a step asks for approval.")
    signature: Annotated[str, Field(min_length=1, max_length=MAX_SIGNATURE_CHARS)] | None = Field(
        default=None,
        description="The requester's SSH signature (ssh-keygen -Y sign -n durable-rollouts) over the spec's canonical "
        "JSON without this field (rollouts sign-spec makes it). Required unless the service's policy allows "
        "unsigned specs.",
    )
    workflow_id: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)] | None = Field(
        default=None,
        description="The workflow id this spec may start, covered by the signature: a signed spec found in a "
        "history cannot start another rollout. Required on a signed spec.",
    )
    not_after: Annotated[str, Field(max_length=64), AfterValidator(_check_instant)] | None = Field(
        default=None,
        description="ISO 8601 instant with its offset after which this spec may no longer start a rollout, "
        "covered by the signature. Required on a signed spec.",
    )
    pipeline_stage: PipelineStage | None = Field(
        default=None,
        description="Set by a Pipeline on each stage's rollout: the signed pipeline spec and the stage's name, which "
        "stand in for this spec's own signature when its parent is that pipeline (docs/pipelines.md).",
    )
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

    accept_untestable_ratio_max: float | None = Field(
        default=None,
        gt=1.0,
        le=MAX_RATIO,
        exclude_if=lambda value: value is None,  # absent from older specs' JSON, signatures and digests
        description="Largest smallest-detectable ratio an accepted untestable latency_p95 may have: where stable's "
        "p95 lies in buckets wider than this (upper over lower bound), accepting the criterion could promote a "
        f"regression that large unseen, so the rollout ends instead. Null: {DEFAULT_UNTESTABLE_RATIO_MAX:g}.",
    )

    @property
    def untestable_ratio_max(self) -> float:
        """``accept_untestable_ratio_max`` with its default filled in."""
        value = self.accept_untestable_ratio_max
        return DEFAULT_UNTESTABLE_RATIO_MAX if value is None else value

    @model_validator(mode="after")
    def _steps_of_strategy(self) -> RolloutSpec:
        """With a strategy, ``steps`` is its canary items: what floors, router checks and the record read."""
        if self.strategy is not None:
            derived = canary_steps(self.strategy)
            if "steps" in self.model_fields_set and list(self.steps) != derived:
                raise ValueError("set steps or strategy, not both: a strategy's canary items are its steps")
            if derived:
                object.__setattr__(self, "steps", derived)  # frozen model: set once, during validation
        return self

    @property
    def total_observation(self) -> timedelta:
        """The steps' observe times added up (extensions and holds not included)."""
        return sum((step.observe for step in self.steps), timedelta())


FINGERPRINT_LATER_FIELDS: dict[str, frozenset[str]] = {"criteria": frozenset({"error_rate_margin", "input_drift"})}
"""Fields added to criteria or triggers after rollouts were already running. While at their default they are left
out of the fingerprint, so a rollout started before a field existed keeps the fingerprint its approvals were
signed over (they must still verify when its history replays on newer code). Set to any other value, they count."""


def _fingerprinted(section: str, model: BaseModel) -> dict[str, Any]:
    document = model.model_dump(mode="json")
    for name in FINGERPRINT_LATER_FIELDS.get(section, frozenset()):
        if getattr(model, name) == type(model).model_fields[name].default:
            document.pop(name, None)
    return document


def criteria_fingerprint(spec: RolloutSpec) -> str:
    """SHA-256 of the pre-registered criteria and triggers, so the record proves they never changed."""
    document = {
        "criteria": _fingerprinted("criteria", spec.criteria),
        "rollback_triggers": _fingerprinted("rollback_triggers", spec.rollback_triggers),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
