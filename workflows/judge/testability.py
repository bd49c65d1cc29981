"""Which criteria the metrics can test at all: a criterion they cannot test would stay inconclusive forever.

Two ways a criterion becomes untestable, both visible in the counters alone:
- latency p95: stable's p95 lies in a histogram bucket wider than the allowed ratio (a 1.1x limit inside a
  bucket from 250 to 500 ms), or there is no latency histogram at all;
- quality: no version reports quality scores.
Stable's own lifetime counters show both before any traffic moves; a step's totals show them at every analysis.
"""

from __future__ import annotations

from models.counters import Counters
from models.criteria import Criteria
from models.verdicts import CriterionName
from workflows.judge.increments import accumulate, increment
from workflows.judge.models import ArmTotals
from workflows.judge.threshold import coarse_bucket_warning, p95_pair

MIN_READING_REQUESTS = 100
"""Below this many requests a reading says too little about the metrics' shape to call a criterion untestable."""


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
    empty = Counters(requests=0, errors=0)
    lifetime = accumulate(ArmTotals(), increment(empty, stable))
    return untestable_in_totals(lifetime, ArmTotals(), criteria)
