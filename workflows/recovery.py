"""The recovery rule: is stable back at its pre-rollout baseline? Pure, so its cases are tested one by one.

After a rollback the candidate serves nothing; what is left to know is whether stable is healthy again, or whether
whatever hurt the rollout (a shared dependency, a bad config both versions read, load) still hurts stable. The
baseline is stable's cumulative counters read at the rollout's start (``RolloutState.recovery_baseline``): what it
served before any traffic moved. The window is what stable served since it was verified back at 100%.

One-sided, with a tolerance, on the judge's own counter arithmetic (``judge.increments``: resets and changed
bucket layouts handled the same way) and its interpolated quantile. Recovered when, on at least ``min_requests``:

    window error rate <= baseline error rate x error_rate_ratio + error_rate_margin
    window p95        <= baseline p95 x latency_p95_ratio          (when both histograms have data)

Worse is what a recovery check must catch; better than the baseline is always fine. No statistical test: the
window is cumulative from the start of the watch, so the first reading that meets the rule has seen all of the
transition after the rollback (a tail of errors only delays "recovered"), and the tolerances absorb noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.counters import Counters
from models.policy import RecoveryPolicy
from workflows.judge.histogram import interpolated_quantile
from workflows.judge.increments import increment


@dataclass(frozen=True)
class RecoveryCheck:
    """One reading against the rule: recovered, not yet, or too little traffic to say."""

    recovered: bool
    enough: bool
    line: str
    """The reading, for the record: ``error rate 0.0102 <= 0.0170; p95 301ms <= 360ms; n=12000``."""


def baseline_rates(baseline: Counters) -> tuple[float, float | None] | None:
    """Stable's error rate and p95 (ms) over what it served before the rollout; None without requests."""
    if baseline.requests <= 0:
        return None
    return baseline.errors / baseline.requests, _p95(baseline.latency_ms_buckets, baseline.requests)


def _p95(buckets: list[tuple[float, int]] | tuple[tuple[float, int], ...], requests: int) -> float | None:
    if not buckets:
        return None
    bounds = [b for b, _ in buckets]
    counts = [c for _, c in buckets]
    total = counts[-1] if bounds[-1] == float("inf") else max(counts[-1], requests)
    found = interpolated_quantile(bounds, counts, total, 0.95)
    return None if found is None else found.value


def check(baseline: Counters, since: Counters, now: Counters, policy: RecoveryPolicy) -> RecoveryCheck:
    """Stable's traffic between ``since`` and ``now`` against its ``baseline``, under ``policy``."""
    base = baseline_rates(baseline)
    if base is None:
        return RecoveryCheck(recovered=False, enough=False, line="no baseline: stable had served no requests")
    base_error, base_p95 = base
    window = increment(since, now)
    if window.requests < policy.min_requests:
        return RecoveryCheck(
            recovered=False, enough=False, line=f"n={window.requests} < min_requests {policy.min_requests}"
        )
    error = window.errors / window.requests
    error_limit = base_error * policy.error_rate_ratio + policy.error_rate_margin
    error_ok = error <= error_limit
    parts = [f"error rate {error:.4g} {'<=' if error_ok else '>'} {error_limit:.4g}"]
    p95_ok = True
    p95 = None
    if window.latency_bounds:
        p95 = _p95(list(zip(window.latency_bounds, window.latency_counts, strict=True)), window.requests)
    if p95 is not None and base_p95 is not None:
        p95_limit = base_p95 * policy.latency_p95_ratio
        p95_ok = p95 <= p95_limit
        parts.append(f"p95 {p95:.0f}ms {'<=' if p95_ok else '>'} {p95_limit:.0f}ms")
    else:
        parts.append("p95 not measured (no latency histogram)")
    parts.append(f"n={window.requests}")
    return RecoveryCheck(recovered=error_ok and p95_ok, enough=True, line="; ".join(parts))


def rule_line(baseline: Counters, policy: RecoveryPolicy) -> str:
    """The rule with the baseline's numbers, for the record."""
    base = baseline_rates(baseline)
    if base is None:
        return "baseline: none"
    error, p95 = base
    p95_text = "-" if p95 is None else f"{p95:.0f}ms"
    return (
        f"baseline (stable before the rollout, n={baseline.requests}): error rate {error:.4g}, p95 {p95_text}; "
        f"rule: error rate <= baseline x {policy.error_rate_ratio:g} + {policy.error_rate_margin:g}, "
        f"p95 <= baseline x {policy.latency_p95_ratio:g}, n >= {policy.min_requests}"
    )
