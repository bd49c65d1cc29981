"""The judge benchmark's fast judge: the workflow judge's decisions, compiled with numba, for two judges only.

``workflows.judge.judge`` costs about 140 µs a poll (pydantic copies of its state included), which puts a full
benchmark (60 cells x 1,000 runs x 576 polls x 2 judges) at 80 minutes on 2 cores. This package is a scalar
port of exactly the path that judge takes for the benchmark's two default workflow judges (``detection`` and
``evidence-3``: ``bench.judge.judges.WorkflowJudge`` with the whole-rollout, robust and detection options, and
``third`` for the second), operation by operation in the same order, so that its floats come out bit for bit
the same. Everything else (other options, layout changes, custom metrics, the reason sentence) is left out.

It is trusted only where ``check.py`` finds it identical to the workflow judge, poll by poll, on a sample of
runs of every cell; ``python -m bench.judge`` runs that check before every benchmark and stops on a difference.
The workflow itself never imports this package: Temporal's sandbox runs the ``.py`` judge.

Files: ``layout.py`` (the state arrays' slots), ``numerics.py`` (Python's own float semantics: ``min``/``max``,
``sum``, ``math.fsum``, ``**``), ``increments.py`` (counter differencing), ``error_rate.py`` (the carried ratio
test), ``bernstein.py`` and ``error_margin.py`` (the absolute margin), ``latency.py``, ``quality.py``,
``triggers.py`` (interpolated p95s and the hard triggers), ``run.py`` (a whole run in one compiled call) and
``check.py`` (the comparison with the workflow judge).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parents[2]


def _cache_dir() -> Path:
    """numba's cache, keyed by every source of the port and of the judge it ports.

    numba checks only the file a function is defined in, so an edit to a helper in another file would otherwise
    run against a stale compiled caller; and the grids and constants imported from ``workflows/judge`` are
    frozen into the compiled code.
    """
    digest = hashlib.sha256()
    for path in [*sorted(_HERE.glob("*.py")), *sorted((_ROOT / "workflows" / "judge").glob("*.py"))]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return _ROOT / ".build" / "numba" / digest.hexdigest()[:16]


os.environ.setdefault("NUMBA_CACHE_DIR", str(_cache_dir()))

from numba.core import config  # noqa: E402  (after the cache directory is chosen)

if not getattr(config, "CACHE_DIR", ""):  # numba was imported before this package and missed the variable
    setattr(config, "CACHE_DIR", os.environ["NUMBA_CACHE_DIR"])  # noqa: B010 (numba's config has no stubs)
