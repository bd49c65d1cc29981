"""The judge's words as types: the record, the status query and the judge itself all speak them.

They live here, not in ``workflows.judge``, so the record can be typed with them while ``models`` imports nothing
of ours.
"""

from __future__ import annotations

from typing import Literal

Verdict = Literal["pass", "fail", "inconclusive", "untestable"]
"""``fail``: evidence the criterion is violated; ``pass``: evidence it holds; ``untestable``: the metrics cannot
establish the criterion however much data comes (buckets too coarse, nothing reported); else ``inconclusive``."""

JudgeMethod = Literal["threshold", "sequential"]
"""``threshold``: point estimates against the limits; ``sequential``: anytime-valid tests."""

Decision = Literal["rollback", "continue", "pass"]
"""What the workflow should do after this poll."""

AnalysisDecision = Decision | Literal["error"]
"""An analysis in the record: the judge's decision, or ``error`` when the metrics could not be read."""

CriterionName = Literal["error_rate", "latency_p95", "quality"]
TriggerName = Literal["error_rate", "latency_p95"]
