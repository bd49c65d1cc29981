"""Benchmark of canary judges on simulated traffic: ``python -m bench.judge`` writes docs/judge-benchmark.md.

Three kinds of judge see identical simulated traffic (same seeds): two naive rules checked at every poll (a
5-minute window and the pre-registered limits on cumulative data), a Kayenta-style hourly Mann-Whitney judge,
and the sequential judge of ``workflows.judge``. See ``scenarios.py`` for the cells, ``traffic.py`` for the
traffic model and ``judges.py`` for the judges. The traffic and the comparison judges are numpy; the two default
workflow judges run on ``fast/``, a numba port of exactly their path through ``workflows.judge``, after its
``check.py`` has found it identical to the source judge poll by poll on 2 runs of every cell (4 µs a poll instead
of 140). ``--slow-judge`` runs them through ``workflows.judge`` instead, which ``compiled.py`` compiles with mypyc
after checking it against the source (``--interpreted`` runs the source, about 1.5x slower).
"""
