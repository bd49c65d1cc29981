"""Scale benchmark: many concurrent rollouts on real workers, on the dev server or the PostgreSQL cluster.

``python -m bench.scale --help``; the figures and the load they were taken under are in docs/benchmarks.md.
"""
