"""Drift on canary inputs: does the candidate see the same users as stable? Pure, tested case by case.

A canary's evidence is about the requests it served. If its routing (a sticky hash, a header rule, a region)
sends it other users than stable's, with longer prompts, another language or more tool calls, then a pass proves
nothing about stable's users. The model servers count their requests per input feature and value
(``Counters.inputs``). This module compares the two versions' histograms over the same window, feature by feature,
and names the features that moved.

Two measures, both symmetric in what they catch:

- **PSI**, the population stability index: ``sum((q - p) * ln(q / p))`` over the bins, with empty bins smoothed
  to ``EPSILON``. By the usual rule of thumb, below 0.1 is stable, 0.1 to 0.25 is a moderate shift, and above 0.25
  is a large one.
- **JS**, the Jensen-Shannon divergence in bits: it lies in [0, 1] and is defined with empty bins.

A feature is judged only when both versions have at least ``min_count`` requests in the window. Fewer requests
would make a small canary's noise look like drift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

DriftMethod = Literal["psi", "js"]
Histograms = Mapping[str, Mapping[str, int]]
"""Feature -> value -> count, as ``Counters.inputs`` holds them."""

EPSILON = 1e-4
"""Share given to a bin one side never saw, so PSI stays finite (a bin seen on one side only still counts)."""


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison."""

    feature: str
    score: float
    moved: bool
    stable_count: int
    candidate_count: int
    biggest: str
    """The value whose share changed most, ``ja 5% -> 48%``: what a person looks at first."""


@dataclass(frozen=True)
class DriftReport:
    """Every feature with enough requests on both sides; ``moved`` names those past the limit."""

    features: tuple[FeatureDrift, ...]
    short: tuple[str, ...]
    """Features left out for too few requests (or exported by one version only)."""
    method: DriftMethod
    limit: float

    @property
    def moved(self) -> tuple[FeatureDrift, ...]:
        """The features whose distribution differs by more than the limit."""
        return tuple(f for f in self.features if f.moved)

    @property
    def measured(self) -> bool:
        """At least one feature was compared."""
        return bool(self.features)

    def line(self) -> str:
        """``language psi 1.21 > 0.2 (ja 5% -> 48%); prompt_length psi 0.62 > 0.2 (...); tool_use 0.001``."""
        parts = [
            f"{f.feature} {self.method} {f.score:.3g} {'>' if f.moved else '<='} {self.limit:g}"
            + (f" ({f.biggest})" if f.moved else "")
            for f in sorted(self.features, key=lambda f: -f.score)
        ]
        if self.short:
            parts.append(f"too few requests for {', '.join(self.short)}")
        return "; ".join(parts) if parts else "no input histograms to compare"


def window(before: Histograms, now: Histograms) -> dict[str, dict[str, int]]:
    """Requests per feature and value between two cumulative readings; a count that went down is a restart."""
    out: dict[str, dict[str, int]] = {}
    for feature, bins in now.items():
        old = before.get(feature, {})
        if any(count < old.get(value, 0) for value, count in bins.items()):
            out[feature] = dict(bins)
        else:
            out[feature] = {value: count - old.get(value, 0) for value, count in bins.items()}
    return out


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [max(c / total, EPSILON) for c in counts]


def psi(stable: Sequence[int], candidate: Sequence[int]) -> float:
    """Population stability index of ``candidate`` against ``stable`` (same bins, both non-empty)."""
    p, q = _shares(stable), _shares(candidate)
    return sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q, strict=True))


def js(stable: Sequence[int], candidate: Sequence[int]) -> float:
    """Jensen-Shannon divergence in bits, in [0, 1]."""
    ps, qs = sum(stable), sum(candidate)
    p = [c / ps for c in stable]
    q = [c / qs for c in candidate]
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def kl(x: list[float]) -> float:
        return sum(a * math.log2(a / b) for a, b in zip(x, m, strict=True) if a > 0)

    return max(0.0, (kl(p) + kl(q)) / 2)


def _biggest(values: Sequence[str], stable: Sequence[int], candidate: Sequence[int]) -> str:
    ps, qs = sum(stable), sum(candidate)
    changes = [(abs(c / qs - s / ps), v, s / ps, c / qs) for v, s, c in zip(values, stable, candidate, strict=True)]
    _, value, before, after = max(changes)
    return f"{value} {before:.0%} -> {after:.0%}"


def compare(
    stable: Histograms,
    candidate: Histograms,
    *,
    limit: float,
    min_count: int,
    method: DriftMethod = "psi",
    only: Sequence[str] | None = None,
) -> DriftReport:
    """Each feature both versions export (or those in ``only``), compared on the union of their values."""
    names = sorted(set(stable) | set(candidate))
    if only is not None:
        names = [n for n in names if n in only]
    measure = psi if method == "psi" else js
    features: list[FeatureDrift] = []
    short: list[str] = []
    for name in names:
        s_bins, c_bins = stable.get(name, {}), candidate.get(name, {})
        values = sorted(set(s_bins) | set(c_bins))
        s_counts = [s_bins.get(v, 0) for v in values]
        c_counts = [c_bins.get(v, 0) for v in values]
        if min(sum(s_counts), sum(c_counts)) < min_count:
            short.append(name)
            continue
        score = measure(s_counts, c_counts)
        features.append(
            FeatureDrift(
                feature=name,
                score=score,
                moved=score > limit,
                stable_count=sum(s_counts),
                candidate_count=sum(c_counts),
                biggest=_biggest(values, s_counts, c_counts),
            )
        )
    return DriftReport(features=tuple(features), short=tuple(short), method=method, limit=limit)
