"""Run the benchmark on the judge compiled with mypyc: the same source files, about 1.5x faster.

The judge is pure, fully typed Python, which mypyc (shipped with mypy, a dev dependency) turns into C
extension modules without any change to the source. Only the benchmark uses the build: the worker imports
the ``.py`` files, which is what Temporal's workflow sandbox expects. The build goes to a copy of the
``workflows`` package under ``.build/``, keyed by a hash of every source it contains, so it is made once
per change (about 15 s) and never lands next to the sources.

The compiled modules are trusted only after ``fingerprint`` gives identical results for a sample of runs
in both forms (``__main__`` checks this before every benchmark); any difference stops the benchmark.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "workflows"
MODELS_PACKAGE = ROOT / "models"
BUILD_ROOT = ROOT / ".build" / "bench-judge"
MODELS = "models.py"
"""Pydantic models stay interpreted: mypyc cannot compile classes built by pydantic's metaclass."""


def _sources() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _compiled_modules(build: Path) -> list[str]:
    judge = build / "workflows" / "judge"
    return sorted(str(path.relative_to(build)) for path in judge.glob("*.py") if path.name != MODELS)


def _key() -> str:
    digest = hashlib.sha256()
    for path in [*_sources(), *sorted(MODELS_PACKAGE.rglob("*.py"))]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update(importlib.metadata.version("mypy").encode())
    digest.update(sysconfig.get_config_var("EXT_SUFFIX").encode())
    return digest.hexdigest()[:16]


def build() -> Path | None:
    """The directory to put first on ``sys.path`` for the compiled judge, or None when mypyc failed.

    A failure (no C compiler, a mypyc limitation) is reported on stderr with the log's path; the caller falls
    back to the interpreted judge.
    """
    target = BUILD_ROOT / _key()
    if (target / "ok").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(PACKAGE, staging / "workflows", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    # The judge imports the shared models (a top-level package since ADR 10): mypyc must see them to type-check.
    shutil.copytree(MODELS_PACKAGE, staging / "models", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    log = staging / "mypyc.log"
    print("compiling the judge with mypyc (once per source change)...", file=sys.stderr, flush=True)
    with log.open("w") as output:
        result = subprocess.run(
            [sys.executable, "-m", "mypyc", "--config-file", str(ROOT / "pyproject.toml"), *_compiled_modules(staging)],
            cwd=staging,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MYPY_CACHE_DIR": str(staging / ".mypy_cache")},
            check=False,
        )
    if result.returncode != 0:
        print(f"mypyc failed (see {log}); running the interpreted judge", file=sys.stderr)
        return None
    shutil.rmtree(staging / "build", ignore_errors=True)
    (staging / "ok").write_text("built\n")
    staging.rename(target)
    return target


def activate(build_dir: Path) -> None:
    """Import ``workflows`` from the build from now on (call before anything imports it)."""
    if "workflows" in sys.modules:
        raise RuntimeError("workflows is already imported; activate the compiled judge first")
    sys.path.insert(0, str(build_dir))


def is_compiled() -> bool:
    """True when the judge imported in this process is the compiled one."""
    from workflows.judge import bernstein

    return not str(bernstein.__file__).endswith(".py")


def fingerprint(runs: int, base_seed: int, judges: tuple[str, ...], cells: tuple[str, ...] = ()) -> list[list[object]]:
    """The outcomes of ``judges`` on the first ``runs`` runs of every cell (or of ``cells``), as JSON-able lists."""
    from bench.judge.judges import run_all
    from bench.judge.runner import run_seed
    from bench.judge.scenarios import SCENARIOS

    outcomes: list[list[object]] = []
    for index, scenario in enumerate(SCENARIOS):
        if cells and scenario.name not in cells:
            continue
        for run in range(runs):
            result = run_all(scenario, run_seed(base_seed, index, run), judges)
            outcomes.append([scenario.name, run, *(list(result[name]) for name in sorted(result))])
    return outcomes


def verify(runs: int, base_seed: int, judges: tuple[str, ...], cells: tuple[str, ...] = ()) -> None:
    """Raise when the compiled judge (imported here) and the interpreted one disagree on any sampled run.

    The interpreted side runs in a subprocess while this one runs the compiled side: both cores at once.
    """
    code = (
        "import json; from bench.judge.compiled import fingerprint; "
        f"print(json.dumps(fingerprint({runs}, {base_seed}, {judges!r}, {cells!r})))"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    with subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    ) as interpreted_side:
        compiled = json.loads(json.dumps(fingerprint(runs, base_seed, judges, cells)))  # as the other side reports
        output, _ = interpreted_side.communicate()
    if interpreted_side.returncode != 0:
        raise RuntimeError("the interpreted judge failed on the sample runs (see its output above)")
    interpreted = json.loads(output)
    if compiled != interpreted:
        differing = [a[:2] for a, b in zip(compiled, interpreted, strict=True) if a != b]
        raise RuntimeError(f"the compiled judge disagrees with the source on runs {differing[:5]}")
