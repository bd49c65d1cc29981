"""Benchmark of canary judges on simulated traffic: ``python -m bench.judge`` writes docs/judge-benchmark.md.

Three kinds of judge see identical simulated traffic (same seeds): two naive rules checked at every poll (a
5-minute window and the pre-registered limits on cumulative data), a Kayenta-style hourly Mann-Whitney judge,
and the sequential judge of ``workflows.judge``. See ``scenarios.py`` for the cells, ``traffic.py`` for the
traffic model and ``judges.py`` for the judges. The full run (24 cells x 1,000 runs) takes about 9 minutes on 2
cores: the traffic and the comparison judges are numpy, and ``compiled.py`` runs the workflow's judge compiled
with mypyc after checking it against the source (``--interpreted`` runs the source, about 1.5x slower).
"""
