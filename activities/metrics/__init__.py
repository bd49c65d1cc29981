"""Metrics providers: where the judge's counters come from, one module per ``metrics.kind`` of the spec.

Providers return cumulative counters and keep no state: the workflow takes a baseline reading and judges the
growth since, so a retried or repeated read is harmless.
"""
