"""Benchmark of canary judges on simulated traffic: ``python -m bench.judge`` writes docs/judge-benchmark.md.

Three kinds of judge see identical simulated traffic (same seeds): naive thresholds checked at every poll, a
Kayenta-style hourly Mann-Whitney judge, and the sequential judge of ``workflows.judge``. See
``scenarios.py`` for the cells, ``traffic.py`` for the traffic model and ``judges.py`` for the judges.
"""
