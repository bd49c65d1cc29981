"""Sequential test of "candidate p95 latency <= limit x stable p95" from cumulative latency buckets.

Method (Howard & Ramdas 2022, "Sequential estimation of quantiles with applications to A/B-testing and
best-arm identification", Bernoulli: a quantile is bounded by confidence sequences for the CDF, because
F(x) >= p exactly when the p-quantile is <= x). Buckets give the CDF only at their edges, so we never
interpolate: at each finite edge e of each version we keep an anytime-valid confidence sequence for F(e), the
mean of the indicator "latency <= e", with the empirical-Bernstein mixture of ``bernstein.py``.

Decision, with R the ratio limit and edges a, b:

* fail when some a, b with b >= R * a have F_stable(a) > 0.95 and F_candidate(b) < 0.95 (both with
  confidence): then stable p95 <= a and candidate p95 > b >= R * a >= R * stable p95;
* pass when some a, b with b <= R * a have F_stable(a) < 0.95 and F_candidate(b) > 0.95: then candidate
  p95 <= b <= R * a < R * stable p95.

The alpha of the criterion is split over the two one-sided statements of each direction and over every
edge (a union bound), so searching over edges cannot inflate errors. If no pair of edges is close enough to
the p95s to separate a ratio of R (buckets wider than R around stable's p95), the test can still fail a
regression larger than the bucket width but can never pass: the judge then stays inconclusive and warns,
rather than trusting an interpolation inside a bucket.

The CDF bounds cover the sample-weighted average of the CDF over the step, so a latency distribution that
moves with the daily load is handled; what is compared is each version's latency over the requests it served.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from functools import lru_cache

from workflows.judge import bernstein
from workflows.judge.increments import Increment
from workflows.judge.models import ArmTotals, LatencyTestState

P95 = 0.95
PRIOR_GUESS = 0.95
"""Guess of F(edge) before any data: right where it matters (edges near the p95), fixed before the step."""
SCAN_EDGES = 12
"""Edges examined on each side of an empirical p95 when looking for a confident bound (bounds the cost)."""


@lru_cache(maxsize=64)
def _positions(bounds: tuple[float, ...], edges: tuple[float, ...]) -> slice | tuple[int, ...] | None:
    """Where every edge sits in a layout (None when one is missing); layouts rarely change, so this is cached.

    The usual case, edges being the layout's leading bounds, is a slice: copying it costs almost nothing.
    """
    position = {bound: index for index, bound in enumerate(bounds)}
    indices = tuple(position[edge] for edge in edges if edge in position)
    if len(indices) < len(edges):
        return None
    return slice(0, len(indices)) if indices == tuple(range(len(indices))) else indices


def _take(values: Sequence[int], where: slice | tuple[int, ...]) -> list[int]:
    if isinstance(where, slice):
        return list(values[where])
    return [values[index] for index in where]


def _edge_counts(totals: ArmTotals, edges: Sequence[float]) -> list[int]:
    where = _positions(tuple(totals.latency_bounds), tuple(edges))
    assert where is not None, "every edge is a bound of both arms' accumulated layouts"
    return _take(totals.latency_counts, where)


@lru_cache(maxsize=64)
def _finite_edges(bounds: tuple[float, ...]) -> frozenset[float]:
    return frozenset(bound for bound in bounds if math.isfinite(bound) and bound > 0.0)


def new_latency_state(stable: ArmTotals, candidate: ArmTotals) -> LatencyTestState | None:
    """Start the test once both versions have a histogram; data already accumulated is one batch.

    The accumulated data (usually the step's first poll) is scored against the fixed prior guess, which is
    exactly the empirical-Bernstein variance term of a single batch.
    """
    if stable.latency_total <= 0 or candidate.latency_total <= 0:
        return None
    edges = sorted(_finite_edges(tuple(stable.latency_bounds)) & _finite_edges(tuple(candidate.latency_bounds)))
    if not edges:
        return None
    variances = []
    for totals in (stable, candidate):
        counts = _edge_counts(totals, edges)
        variances.append([bernstein.variance_increment(k, k, totals.latency_total, PRIOR_GUESS) for k in counts])
    return LatencyTestState(
        edges=edges, budget_edges=len(edges), stable_variance=variances[0], candidate_variance=variances[1]
    )


def _arm_variance(
    edges: Sequence[float], variance: Sequence[float], previous: ArmTotals, step: Increment, old_edges: Sequence[float]
) -> list[float]:
    """Variance sums on ``edges`` after one poll's latency increment of one version.

    Per edge, the batch of indicators "latency <= edge" has ``k`` ones among ``m``: its variance term against
    the guess g (the edge's CDF up to the previous poll) is k (1 - g)^2 + (m - k) g^2.
    """
    if len(edges) == len(old_edges):
        kept = list(variance)
    else:
        remaining = set(edges)
        kept = [v for e, v in zip(old_edges, variance, strict=True) if e in remaining]
    if step.latency_bounds is None or step.latency_total <= 0:
        return kept
    edge_key = tuple(edges)
    step_where = _positions(step.latency_bounds, edge_key)
    assert step_where is not None, "the step's layout includes every shared edge"
    batch_counts = _take(step.latency_counts, step_where)
    m = step.latency_total
    previous_total = previous.latency_total
    # Layouts only lose bounds within a step, so earlier data covers every remaining edge.
    old_where = _positions(tuple(previous.latency_bounds), edge_key) if previous_total > 0 else None
    if old_where is None:
        guesses = [PRIOR_GUESS] * len(edges)
    else:
        scale = 1.0 / previous_total
        guesses = [count * scale for count in _take(previous.latency_counts, old_where)]
    # k (1 - g)^2 + (m - k) g^2, expanded.
    return [old + k - g * (2 * k - m * g) for old, k, g in zip(kept, batch_counts, guesses, strict=True)]


def update(
    state: LatencyTestState,
    previous: tuple[ArmTotals, ArmTotals],
    steps: tuple[Increment, Increment],
    totals: tuple[ArmTotals, ArmTotals],
) -> LatencyTestState:
    """Add one poll; edges that a layout change removed are dropped, and the alpha budget is not re-spread."""
    shared = _finite_edges(tuple(totals[0].latency_bounds)) & _finite_edges(tuple(totals[1].latency_bounds))
    edges = state.edges if shared.issuperset(state.edges) else [edge for edge in state.edges if edge in shared]
    stable = _arm_variance(edges, state.stable_variance, previous[0], steps[0], state.edges)
    candidate = _arm_variance(edges, state.candidate_variance, previous[1], steps[1], state.edges)
    return LatencyTestState(
        edges=edges, budget_edges=state.budget_edges, stable_variance=stable, candidate_variance=candidate
    )


class _ArmBounds:
    """Confident statements about one version's F at its edges, found by scanning out from its empirical p95."""

    def __init__(self, edges: Sequence[float], counts: Sequence[int], total: int, variance: Sequence[float]):
        self.edges, self.counts, self.total, self.variance = edges, counts, total, variance
        # Cumulative counts never decrease: the first edge holding 95% of the observations, by bisection.
        self.center = bisect_left(counts, P95 * total)

    def above(self, index: int, log_threshold: float) -> bool:
        """Confident that F(edge) > 0.95, i.e. p95 <= edge."""
        excess = self.counts[index] - P95 * self.total
        return bernstein.exceeds(excess, self.variance[index], log_threshold)

    def below(self, index: int, log_threshold: float) -> bool:
        """Confident that F(edge) < 0.95, i.e. p95 > edge."""
        excess = (self.total - self.counts[index]) - (1.0 - P95) * self.total
        return bernstein.exceeds(excess, self.variance[index], log_threshold)

    def p95_bounds(self, log_threshold: float) -> tuple[float | None, float | None]:
        """(largest edge the p95 is confidently above, smallest edge it is confidently at or below)."""
        if self.total <= 0:
            return None, None
        lower = next(
            (
                self.edges[i]
                for i in range(self.center - 1, max(-1, self.center - 1 - SCAN_EDGES), -1)
                if self.below(i, log_threshold)
            ),
            None,
        )
        upper = next(
            (
                self.edges[i]
                for i in range(self.center, min(len(self.edges), self.center + SCAN_EDGES))
                if self.above(i, log_threshold)
            ),
            None,
        )
        return lower, upper


def p95_edge_range(
    edges: Sequence[float], counts: Sequence[int], total: int, alpha: float
) -> tuple[float | None, float | None]:
    """Edges stable's p95 lies between with confidence 1 - alpha, from one cumulative histogram.

    The same empirical-Bernstein bounds as the test's, on the data as one batch scored against the fixed prior
    guess; alpha is split over both directions and every edge, as in ``evaluate``.

    Returns:
        (largest edge the p95 is confidently above, smallest edge it is confidently at or below), None if none.
    """
    variance = [bernstein.variance_increment(k, k, total, PRIOR_GUESS) for k in counts]
    log_threshold = math.log(2 * max(1, len(edges)) / alpha)
    return _ArmBounds(edges, counts, total, variance).p95_bounds(log_threshold)


def evaluate(
    state: LatencyTestState, totals: tuple[ArmTotals, ArmTotals], limit: float, alpha: float
) -> tuple[str, float | None, float | None]:
    """Verdict and anytime-valid bounds on the p95 ratio, at error level ``alpha`` for each direction.

    Returns:
        (verdict, lower bound on candidate/stable p95 ratio, upper bound), bounds None when not established.
    """
    log_threshold = math.log(2 * state.budget_edges / alpha)
    arms = [
        _ArmBounds(state.edges, _edge_counts(arm_totals, state.edges), arm_totals.latency_total, variance)
        for arm_totals, variance in zip(totals, (state.stable_variance, state.candidate_variance), strict=True)
    ]
    stable_low, stable_high = arms[0].p95_bounds(log_threshold)
    candidate_low, candidate_high = arms[1].p95_bounds(log_threshold)
    lower = candidate_low / stable_high if candidate_low is not None and stable_high is not None else None
    upper = candidate_high / stable_low if candidate_high is not None and stable_low is not None else None
    tolerance = 1e-9
    if lower is not None and lower >= limit * (1 - tolerance):
        return "fail", lower, upper
    if upper is not None and upper <= limit * (1 + tolerance):
        return "pass", lower, upper
    return "inconclusive", lower, upper
