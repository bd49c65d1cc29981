"""Which criteria the metrics can test at all: a criterion they cannot test would stay inconclusive forever.

Two ways a criterion becomes untestable, both visible in the counters alone:
- latency p95: stable's p95 lies in a histogram bucket wider than the allowed ratio (a 1.1x limit inside a
  bucket from 250 to 500 ms), or there is no latency histogram at all;
- quality: no version reports quality scores.
Stable's own lifetime counters show both before any traffic moves; a step's totals show them at every analysis.

Issue 19 (``untestable-once``): judged from each poll's point estimate, a p95 drifting across the edge between a
narrow and a wide bucket flipped the criterion between testable and untestable, and one poll on the wide side
rolled a healthy candidate back. ``decide_latency`` instead decides once per step, at the first poll with enough
of stable's observations, from a confidence range of stable's p95 widened by a drift allowance: untestable only
when every bucket the p95 may lie in is wider than the limit. The decision carries the smallest ratio the buckets
resolve there, and ``refusals`` refuses to accept an untestable p95 whose ratio exceeds the spec's limit.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

from models.counters import Counters
from models.criteria import Criteria
from models.verdicts import CriterionName
from workflows.judge.increments import accumulate, increment
from workflows.judge.latency import p95_edge_range
from workflows.judge.models import ArmTotals, LatencyTestability
from workflows.judge.threshold import coarse_bucket_warning, p95_pair

MIN_READING_REQUESTS = 100
"""Below this many requests a reading says too little about the metrics' shape to call a criterion untestable."""
DRIFT_ALLOWANCE = 1.1
"""How far stable's p95 may move within a step beyond what the first sample shows (a factor, either way): the
daily load cycle stretches latency by about 10 % (the judge benchmark's traffic model), and the first sufficient
sample sees one moment of it. Buckets that far from the confidence range still count as places the p95 may be."""
RATIO_TOLERANCE = 1e-9
"""Bucket widths are ratios of decimal bounds: 1.1 x 250 is 275.00000000000003."""


def _ratio_text(ratio: float) -> str:
    return "unbounded" if math.isinf(ratio) else f"{ratio:.3g}x"


def decide_latency(stable: ArmTotals, limit: float, alpha: float) -> LatencyTestability | None:
    """Can the buckets test a p95 ratio of ``limit``? Decided from stable's histogram; None without one.

    The p95 lies between two edges with confidence 1 - ``alpha`` (``latency.p95_edge_range``); that range,
    widened by ``DRIFT_ALLOWANCE`` either way, meets some buckets. The criterion is testable when one of them is
    at most ``limit`` wide (the test can then pass there); otherwise untestable, and the smallest detectable
    ratio is the widest of them: the ratio the buckets resolve wherever in the range the p95 is.
    """
    edges = [b for b in stable.latency_bounds if math.isfinite(b) and b > 0.0]
    if stable.latency_total <= 0 or not edges:
        return None
    position = {bound: index for index, bound in enumerate(stable.latency_bounds)}
    counts = [stable.latency_counts[position[edge]] for edge in edges]
    low_edge, high_edge = p95_edge_range(edges, counts, stable.latency_total, alpha)
    low = (low_edge or 0.0) / DRIFT_ALLOWANCE
    high = (high_edge or math.inf) * DRIFT_ALLOWANCE
    lowers = [0.0, *edges]
    uppers = [*edges, math.inf]
    widths = [
        upper / lower if lower > 0.0 else math.inf
        for lower, upper in zip(lowers, uppers, strict=True)
        if upper > low and lower < high
    ]
    best, worst = min(widths), max(widths)
    testable = best <= limit * (1 + RATIO_TOLERANCE)
    shown_low, shown_high = low_edge or 0.0, high_edge if high_edge is not None else math.inf
    note = ""
    if not testable:
        where = f"({shown_low:g}, {shown_high:g}] ms"
        note = (
            f"untestable: smallest detectable ratio {_ratio_text(worst)} > limit {limit:g}x (stable p95 in {where} "
            f"with confidence at {stable.latency_total:,} observations, buckets there {_ratio_text(best)} wide or "
            f"more); add bucket bounds at most {limit:g}x apart around it"
        )
    return LatencyTestability(
        testable=testable,
        smallest_detectable_ratio=worst,
        stable_p95_low=shown_low,
        stable_p95_high=shown_high,
        samples=stable.latency_total,
        note=note,
    )


def untestable_decided(
    stable: ArmTotals, candidate: ArmTotals, criteria: Criteria, latency: LatencyTestability | None
) -> dict[CriterionName, str]:
    """``untestable_in_totals`` with the p95's testability taken from the step's decision, never a point estimate."""
    found = untestable_in_totals(stable, candidate, criteria)
    if "latency_p95" in found and (stable.latency_total or candidate.latency_total):
        del found["latency_p95"]  # the point estimate's verdict: the decision below replaces it
        if latency is not None and not latency.testable:
            found["latency_p95"] = latency.note
    return found


def lifetime_totals(stable: Counters) -> ArmTotals:
    """Stable's lifetime counters as a step's totals (the reading before any traffic moves)."""
    return accumulate(ArmTotals(), increment(Counters(requests=0, errors=0), stable))


def refusals(
    found: Mapping[CriterionName, str],
    accepted: Collection[str],
    ratio_max: float | None,
    latency: LatencyTestability | None,
) -> dict[CriterionName, str]:
    """The untestable criteria the spec does not accept, each with why (the field to change named).

    An accepted p95 is refused too when its smallest detectable ratio exceeds ``ratio_max``
    (``accept_untestable_ratio_max``): accepting it would promote regressions up to that ratio unseen.
    """
    refused = {name: why for name, why in found.items() if name not in accepted}
    if (
        ratio_max is not None
        and "latency_p95" in found
        and "latency_p95" not in refused
        and latency is not None
        and not latency.testable
        and latency.smallest_detectable_ratio > ratio_max * (1 + RATIO_TOLERANCE)
    ):
        refused["latency_p95"] = (
            f"smallest detectable ratio {_ratio_text(latency.smallest_detectable_ratio)} exceeds "
            f"accept_untestable_ratio_max {ratio_max:g}x, so accepting it could promote a p95 regression that large "
            "unseen; add finer bucket bounds around stable's p95"
        )
    return refused


def untestable_in_totals(stable: ArmTotals, candidate: ArmTotals, criteria: Criteria) -> dict[CriterionName, str]:
    """Criteria that the step's accumulated counters cannot test, each with the reason and what would fix it."""
    found: dict[CriterionName, str] = {}
    if stable.requests < MIN_READING_REQUESTS:
        return found
    stable_q, _ = p95_pair(stable, candidate)
    if stable.latency_total == 0 and candidate.latency_total == 0:
        found["latency_p95"] = "no latency histogram in the metrics: report request durations in buckets"
    elif (coarse := coarse_bucket_warning(stable_q, criteria.latency_p95_ratio_max)) is not None:
        found["latency_p95"] = f"{coarse}: add bucket bounds around stable's p95, or accept the coarser test"
    if stable.quality_count == 0 and candidate.quality_count == 0:
        found["quality"] = "no quality scores in the metrics: report them, or accept the criterion as untested"
    return found


def untestable_at_start(stable: Counters, criteria: Criteria) -> dict[CriterionName, str]:
    """Criteria that stable's lifetime counters already show cannot be tested, before any traffic moves."""
    return untestable_in_totals(lifetime_totals(stable), ArmTotals(), criteria)


def decision_sample(criteria: Criteria) -> int:
    """Stable latency observations a step needs before its testability is decided: the criteria's minimum."""
    return max(MIN_READING_REQUESTS, criteria.min_requests)
