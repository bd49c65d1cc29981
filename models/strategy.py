"""Strategies as data: a rollout's steps as a tagged union, each item naming its ``kind``.

A spec either lists ``steps`` (canary weights: the shape every rollout used before strategies) or a ``strategy``
whose items are shadow comparisons before any traffic, canary steps, analyses at the current weight, pauses,
approvals, an A/B test, a blue-green cutover and, last, a watch after promotion.
``workflows.rollout.plan.plan_of`` turns either shape into the one plan the workflow walks.

Everything is bounded: at most ``MAX_STRATEGY_STEPS`` items, at most one watch and one A/B test, every duration
at most 90 days.
``strategy_problems`` holds the rules between items, each naming the item (``strategy[2].weight``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from models.compare import Comparator, ExactCompare
from models.custom_metrics import CustomMetric, MetricName
from models.durations import Duration, format_duration
from models.limits import MAX_SEGMENTS, MAX_SHADOW_CONCURRENCY, MAX_SHADOW_REQUESTS, MAX_STEPS
from models.segments import Segment

MAX_STRATEGY_STEPS = 2 * MAX_STEPS
"""Items in a strategy: room for every canary step a ``steps`` list may have, each followed by another kind."""
AB_ALPHA_SHARE = 0.2
"""Share of ``criteria.alpha`` an A/B test's winner interval spends; the guard's criteria are judged at the rest.

One error budget for the rollout (a union bound): naming a false winner and rolling back a good candidate together
stay within ``criteria.alpha``. A fifth, as the custom metrics take: the guard runs over every step and keeps
most of the budget; the winner's interval pays with a wider threshold (log 4/alpha grows by log 5)."""


BUILTIN_AB_METRICS = ("quality", "error_rate")
"""The A/B metrics every judge reads; any other name is a custom metric of the target."""


def ab_metric_problems(
    strategy: Sequence[StrategyStep] | None, defined: Mapping[str, CustomMetric], where: str
) -> list[str]:
    """At start, with the target known: an A/B test's custom metric must be a mean or a rate of it (no count)."""
    problems: list[str] = []
    for index, item in enumerate(strategy or []):
        if not isinstance(item, ABTestStep) or item.metric in BUILTIN_AB_METRICS:
            continue
        definition = defined.get(item.metric)
        known = ", ".join(sorted(defined)) or "none"
        if definition is None:
            problems.append(f"strategy[{index}].metric: {item.metric!r} is not a custom metric of {where} ({known})")
        elif definition.kind == "count":
            problems.append(
                f"strategy[{index}].metric: {item.metric!r} is a count (a ceiling, never a comparison); an A/B test "
                "names its winner on a mean or a rate"
            )
    return problems


def ab_alpha(item_alpha: float | None, criteria_alpha: float) -> float:
    """The winner interval's alpha: the item's own when set (at most the share), else the share of the budget."""
    return item_alpha if item_alpha is not None else criteria_alpha * AB_ALPHA_SHARE


MIRROR_ALPHA_SHARE = 0.2
"""Share of the guard's alpha that a strategy's mirror items spend between them; the canary steps keep the rest.

A mirror is judged as a canary step at 0% with its own judge (the first canary starts fresh after it), so without
a split a strategy with a mirror could spend its whole alpha twice on false rollbacks: once on the copies, once on
the canary steps. A fixed fifth, like the A/B test's, keeps the two together within the one budget."""


def mirror_alpha(guard: float, strategy: Sequence[StrategyStep] | None, *, in_mirror: bool) -> float:
    """The alpha of the judge now: a mirror item's part of ``guard``, or what the mirrors leave to the rest."""
    mirrors = sum(1 for item in strategy or [] if isinstance(item, ShadowStep) and item.mode == "mirror")
    if not mirrors:
        return guard
    return guard * MIRROR_ALPHA_SHARE / mirrors if in_mirror else guard * (1.0 - MIRROR_ALPHA_SHARE)


def guard_alpha(criteria_alpha: float, strategy: Sequence[StrategyStep] | None) -> float:
    """The alpha the guard's criteria (built-in and custom) share: all of it, or what an A/B test leaves."""
    if strategy and any(isinstance(item, ABTestStep) for item in strategy):
        return criteria_alpha * (1.0 - AB_ALPHA_SHARE)
    return criteria_alpha


def _longer_than_zero(value: timedelta) -> timedelta:
    if value <= timedelta():
        raise ValueError("must be longer than 0")
    return value


_Positive = Annotated[Duration, AfterValidator(_longer_than_zero)]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Step(_Model):
    """One canary step: move this share of traffic to the candidate, observe, optionally wait for approval."""

    weight: float = Field(
        gt=0,
        le=100,
        description="Candidate traffic share in percent, in (0, 100); with segments, the share of the segments' "
        "users, up to 100 (every user of the segments).",
    )
    observe: Duration = Field(description="How long to observe at this weight (paused time does not count).")
    approval: bool = Field(default=False, description="Wait for the approval quorum after observing.")
    segments: list[Segment] = Field(
        default_factory=list,
        max_length=MAX_SEGMENTS,
        description='Targeting: only users matching every segment (e.g. {"header": "X-User-Group", "in": '
        '["internal"]} or {"region": ["eu-west"]}) can get the candidate, weight percent of them. Empty: '
        "everyone. The target's router must be able to express it (checked at start).",
    )


class CanaryStep(Step):
    """Move this share of traffic to the candidate and observe it: the item a ``steps`` entry means."""

    kind: Literal["canary"] = Field(description="Step kind.")


class AnalysisStep(_Model):
    """Judge at the current weight for a while longer: more evidence before the next move."""

    kind: Literal["analysis"] = Field(description="Step kind.")
    duration: _Positive = Field(description="How long to keep judging at the current weight (pauses do not count).")


class PauseStep(_Model):
    """Hold at the current weight, still judged, until a signed ``promote`` or, when set, for a duration."""

    kind: Literal["pause"] = Field(description="Step kind.")
    duration: _Positive | None = Field(
        default=None,
        description="How long the pause lasts; null: until an approver's signed promote (the usual hold limits "
        "of on_inconclusive.hold_max apply).",
    )


class ApprovalStep(_Model):
    """Wait for the spec's approval quorum at the current weight (analyses go on); needs ``approvals``."""

    kind: Literal["approval"] = Field(description="Step kind.")


class BlueGreenStep(_Model):
    """The candidate runs idle beside stable, checked by the spec's gates on its own endpoint, then one cutover.

    The gates (``preflight``, ``eval``, ``shadow``) are the preview: they run before any user traffic, as always,
    and a blue-green strategy needs at least one. With ``approval``, the quorum is awaited after the preview and
    before the cutover (the candidate still idle). The cutover moves everyone at once (verified); the ``watch``
    that must follow judges the candidate at 100% and switches back at once on a failure.
    """

    kind: Literal["blue_green"] = Field(description="Step kind.")
    approval: bool = Field(
        default=False,
        description="After the preview, wait for the approval quorum before the cutover (needs the spec's "
        "approvals); a policy requiring approval before the final promotion asks for it.",
    )


class ABTestStep(_Model):
    """An A/B test with a winner: a sticky split at ``share``, judged until a winner or the duration's end.

    The guard is the judge's as in a canary (a failed criterion or a trigger rolls back at once). The candidate
    wins when every criterion passes and it is better than stable on ``metric`` with the judge's confidence
    (an anytime-valid interval on the difference); it then goes on to the next item. Stable wins when the
    candidate is significantly worse: a rollback recorded as a lost A/B test, not as a failed guard. When the
    duration ends without a winner, ``on_no_winner`` says what follows: keep stable, hold for a person, or
    promote unless worse.
    """

    kind: Literal["ab_test"] = Field(description="Step kind.")
    share: float = Field(
        default=50,
        gt=0,
        lt=100,
        description="Candidate traffic share in percent, in (0, 100); sticky per user as the router's split is.",
    )
    duration: _Positive = Field(description="Longest the test runs (pauses do not count); a winner ends it sooner.")
    metric: MetricName = Field(
        default="quality",
        description="The primary metric the winner is named on: mean quality (higher is better), the error "
        "rate (lower is better; needs the sequential judge's error-margin statistics), or the name of a custom "
        "mean or rate the spec judges in criteria.custom (better the way its definition's direction says).",
    )
    min_effect: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="The candidate wins only when better by more than this (absolute difference of the metric).",
    )
    alpha: float | None = Field(
        default=None,
        gt=0,
        le=0.2,
        description="Error rate of the winner's interval (two-sided, anytime-valid), drawn from the rollout's one "
        "budget: at most a fifth of criteria.alpha (the share AB_ALPHA_SHARE), which is also what null means.",
    )
    on_no_winner: Literal["stable", "hold", "promote_unless_worse"] = Field(
        default="stable",
        description="At the duration's end without a winner: stable (roll back to stable, recorded as a lost A/B "
        "test), hold (an approver's signed promote goes on, an abort rolls back; on_inconclusive.hold_max "
        "bounds the wait) or promote_unless_worse (go on to the next item: the interval never showed the "
        "candidate worse, or stable would have won, and the guard held; e.g. a cheaper model that only has to "
        "be no worse).",
    )


class ShadowStep(_Model):
    """Before any user traffic moves: the candidate answers requests whose answers no user ever gets.

    ``replay``: one of the target's recorded request sets goes to both versions' endpoints and the answers are
    compared (``compare``); the item passes when at least ``min_agreement`` of the compared requests agree and the
    candidate's errors and p95 latency on the replay are no worse than the criteria allow (the shadow gate's
    judgement). ``mirror``: for ``duration`` the target's router copies every live request to the candidate and
    discards its answers, while the judge holds the candidate's error rate and latency (from the target's metrics)
    to stable's, as in a canary step; then the mirror is switched off, verified. A failure in either mode rolls
    back before the first canary moves any traffic. Only before the first canary step.
    """

    kind: Literal["shadow"] = Field(description="Step kind.")
    mode: Literal["replay", "mirror"] = Field(
        default="replay",
        description="replay: the target's recorded requests (replay) sent to both versions' endpoints. mirror: "
        "live requests copied to the candidate by the target's router for duration (answers discarded), judged "
        "by the criteria on the target's metrics; needs a router that can mirror (http, nginx with mirror_location).",
    )
    replay: Annotated[str, Field(pattern=_NAME)] | None = Field(
        default=None,
        description="replay mode: recorded requests to replay, the name of one of the target's replay_sets (the "
        "operators keep the files). Not with mirror.",
    )
    duration: _Positive | None = Field(
        default=None,
        # Absent while unset: a replay item's JSON (in a carried state, a record) is what it was before mirrors.
        exclude_if=lambda value: value is None,
        description="mirror mode: how long live traffic is mirrored and judged (pauses do not count). Not with replay.",
    )
    max_requests: int = Field(default=200, ge=1, le=MAX_SHADOW_REQUESTS, description="Replay at most this many.")
    concurrency: int = Field(
        default=8, ge=1, le=MAX_SHADOW_CONCURRENCY, description="Requests in flight at once, per version."
    )
    request_timeout: Duration = Field(default=timedelta(seconds=10), description="Timeout of one request.")
    compare: Comparator = Field(
        default_factory=lambda: ExactCompare(kind="exact"), description="How to compare the two versions' answers."
    )
    min_agreement: float = Field(default=0.9, gt=0, le=1, description="Share of compared requests that must agree.")


REPLAY_ONLY = ("replay", "max_requests", "concurrency", "request_timeout", "compare", "min_agreement")
"""The fields that mean something to a replay only: a mirror item that sets one is refused, not ignored."""


def shadow_problems(index: int, item: ShadowStep) -> list[str]:
    """What one shadow item's mode asks of its fields, naming the field: a mode's own, and none of the other's."""
    where = f"strategy[{index}]"
    if item.mode == "replay":
        problems = [] if item.replay else [f"{where}.replay: a replay needs one of the target's replay sets"]
        if item.duration is not None:
            problems.append(f"{where}.duration: a replay ends when its requests are answered; duration is for mirror")
        return problems
    problems = [] if item.duration else [f'{where}.duration: a mirror needs a duration (e.g. "2h")']
    problems += [
        f"{where}.{field}: only a replay has {field}; a mirror judges live traffic with the spec's criteria"
        for field in REPLAY_ONLY
        if field in item.model_fields_set
    ]
    return problems


class WatchStep(_Model):
    """After promotion: keep judging the candidate at 100% against stable's pre-rollout baseline.

    Stable stays routable; a failed criterion or a trigger switches back to stable at once (the rollback path,
    verified). Only as the strategy's last item.
    """

    kind: Literal["watch"] = Field(description="Step kind.")
    duration: _Positive = Field(description="How long to watch the promoted candidate (pauses do not count).")


StrategyStep = Annotated[
    CanaryStep | AnalysisStep | PauseStep | ApprovalStep | BlueGreenStep | ABTestStep | ShadowStep | WatchStep,
    Field(discriminator="kind"),
]
"""One item of a strategy, told apart by its ``kind``."""

Strategy = Annotated[list[StrategyStep], Field(min_length=1, max_length=MAX_STRATEGY_STEPS)]


def canary_steps(strategy: Sequence[StrategyStep]) -> list[Step]:
    """The canary items as plain steps: what the policy floors, router checks and record read as ``steps``.

    A blue-green strategy's one exposure is its watch at 100%: that is its step.
    """
    if strategy and isinstance(strategy[0], BlueGreenStep) and isinstance(strategy[-1], WatchStep):
        return [Step(weight=100, observe=strategy[-1].duration, approval=strategy[0].approval)]
    return [
        Step(weight=item.weight, observe=item.observe, approval=item.approval, segments=list(item.segments))
        for item in strategy
        if isinstance(item, CanaryStep)
    ]


def shadow_positions(strategy: Sequence[StrategyStep] | None) -> list[tuple[int, ShadowStep]]:
    """Each shadow item with where it sits, for the checks that name ``strategy[i]`` (replay sets, endpoints)."""
    return [(index, item) for index, item in enumerate(strategy or []) if isinstance(item, ShadowStep)]


def replay_positions(strategy: Sequence[StrategyStep] | None) -> list[tuple[int, str, ShadowStep]]:
    """Each shadow item in replay mode, with where it sits and its replay set's name (checked against a target)."""
    return [(index, item.replay, item) for index, item in shadow_positions(strategy) if item.replay is not None]


def mirror_positions(strategy: Sequence[StrategyStep] | None) -> list[int]:
    """Where each shadow item in mirror mode sits, for the router check that names ``strategy[i].mode``."""
    return [index for index, item in shadow_positions(strategy) if item.mode == "mirror"]


def approval_field(strategy: Sequence[StrategyStep] | None, step: int) -> str:
    """The spec field that sets ``steps[step].approval``: itself, a canary item's, or a blue-green's."""
    if not strategy:
        return f"steps[{step}].approval"
    if isinstance(strategy[0], BlueGreenStep):
        return "strategy[0].approval"
    positions = canary_positions(strategy)
    return f"strategy[{positions[step]}].approval" if step < len(positions) else f"steps[{step}].approval"


def canary_positions(strategy: Sequence[StrategyStep]) -> list[int]:
    """Where each canary item sits in the strategy, so a rule about ``steps[i]`` can name ``strategy[j]``."""
    return [index for index, item in enumerate(strategy) if isinstance(item, CanaryStep)]


def duration_of(item: StrategyStep) -> timedelta | None:
    """How long an item observes; None for an item that waits on people only."""
    if isinstance(item, CanaryStep):
        return item.observe
    if isinstance(item, AnalysisStep | WatchStep | ABTestStep | ShadowStep):
        return item.duration
    if isinstance(item, PauseStep):
        return item.duration
    return None


def strategy_problems(
    strategy: Sequence[StrategyStep],
    *,
    approvals: bool,
    interval: timedelta | None,
    gates: bool = False,
    alpha: float | None = None,
    custom: Collection[str] | None = None,
) -> list[str]:
    """Rules between a strategy's items, beyond each item's own; every problem names its item.

    ``alpha`` is ``criteria.alpha`` when valid: an A/B test's own alpha must fit in its share of that budget.
    ``custom`` names the custom metrics the spec judges (None: unknown, their rule waits): an A/B test's metric
    is quality, the error rate or one of them.
    """
    problems: list[str] = []
    blue_green = any(isinstance(item, BlueGreenStep) for item in strategy)
    if blue_green:
        problems += _blue_green_problems(strategy, gates=gates)
    canaries = canary_positions(strategy)
    if not canaries and not blue_green:
        problems.append('strategy: needs at least one canary step ({"kind": "canary", "weight": ..., "observe": ...})')
    first = canaries[0] if canaries else len(strategy)
    if blue_green:
        first = 0  # its watch follows the cutover, not a canary
    tests = [index for index, item in enumerate(strategy) if isinstance(item, ABTestStep)]
    for index, item in enumerate(strategy):
        where = f"strategy[{index}]"
        if isinstance(item, WatchStep) and index != len(strategy) - 1:
            problems.append(f"{where}.kind: a watch follows the promotion, so it can only be the last item")
        if isinstance(item, ABTestStep) and index < first:
            problems.append(
                f"{where}.kind: an ab_test follows a canary step, so a small share meets the candidate before "
                f"{item.share:g}% do"
            )
        elif isinstance(item, AnalysisStep | PauseStep | ApprovalStep | WatchStep) and index < first:
            problems.append(
                f"{where}.kind: a {item.kind} before the first canary step has no candidate traffic to judge"
            )
        if isinstance(item, ShadowStep):
            problems += shadow_problems(index, item)
        if isinstance(item, ShadowStep) and index > first:
            problems.append(
                f"{where}.kind: a shadow compares the versions before any user traffic moves, so it can only come "
                "before the first canary step"
            )
        if isinstance(item, ABTestStep) and index != tests[0]:
            problems.append(f"{where}.kind: at most one ab_test per strategy (the record names one winner)")
        if isinstance(item, ABTestStep) and custom is not None and item.metric not in (*BUILTIN_AB_METRICS, *custom):
            judged = ", ".join(sorted(custom)) or "none"
            problems.append(
                f"{where}.metric: {item.metric!r} is neither quality, error_rate nor a custom metric the spec judges "
                f"in criteria.custom ({judged})"
            )
        if isinstance(item, ABTestStep) and item.alpha is not None and alpha is not None:
            budget = alpha * AB_ALPHA_SHARE
            if item.alpha > budget * (1 + 1e-9):
                problems.append(
                    f"{where}.alpha: {item.alpha:g} is more than the A/B test's share of the rollout's one error "
                    f"budget ({AB_ALPHA_SHARE:g} of criteria.alpha {alpha:g} = {budget:g}); lower it, or leave it "
                    "out to use the share"
                )
        if isinstance(item, BlueGreenStep) and item.approval and not approvals:
            problems.append(
                f"{where}.approval: waiting for approval needs the spec's approvals (approvers and a quorum)"
            )
        if isinstance(item, ApprovalStep) and not approvals:
            problems.append(f"{where}.kind: an approval step needs the spec's approvals (approvers and a quorum)")
        duration = duration_of(item)
        if interval is not None and duration is not None and duration > timedelta() and duration < interval:
            field = "observe" if isinstance(item, CanaryStep) else "duration"
            problems.append(
                f"{where}.{field}: {format_duration(duration)} is shorter than analysis_interval "
                f"({format_duration(interval)}), so it would never be analysed"
            )
    return problems


def _blue_green_problems(strategy: Sequence[StrategyStep], *, gates: bool) -> list[str]:
    """A blue-green strategy is exactly ``[blue_green, watch]``, and the spec has a gate to preview with."""
    problems: list[str] = []
    if not isinstance(strategy[0], BlueGreenStep):
        at = next(i for i, item in enumerate(strategy) if isinstance(item, BlueGreenStep))
        problems.append(f"strategy[{at}].kind: a blue_green can only be the first item, followed by a watch")
    elif len(strategy) != 2 or not isinstance(strategy[1], WatchStep):
        problems.append(
            "strategy: a blue_green strategy is a blue_green then a watch (its cutover is one move to 100%, "
            'always watched): [{"kind": "blue_green"}, {"kind": "watch", "duration": ...}]'
        )
    if not gates:
        problems.append(
            "strategy[0].kind: a blue_green previews the idle candidate with the spec's gates: set preflight, "
            "eval or shadow"
        )
    return problems
