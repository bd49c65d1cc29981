"""``python -m bench.judge``: run the judge benchmark and write docs/judge-benchmark.md."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.judge import compiled
from bench.judge.scenarios import QUICK, SCENARIOS

DEFAULT_OUTPUT = Path("docs/judge-benchmark.md")
VERIFY_RUNS = 2
"""Runs per cell on which the compiled judge must reproduce the interpreted one exactly."""
FAST_CHECK_RUNS = 2
"""Runs per cell on which the fast judge must reproduce the workflow judge exactly, poll by poll."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge", description=__doc__)
    parser.add_argument("--runs", type=int, default=None, help="runs per cell (default 1000; 40 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: few cells, few runs, report on stdout")
    parser.add_argument("--cells", default="", help="comma-separated cell names (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--seed", type=int, default=20240601, help="base seed")
    parser.add_argument(
        "--judges",
        default="",
        help="comma-separated workflow judges to run (the baselines always run); default: detection,evidence-3; "
        "also whole-rollout, evidence, sequential, sequential-criteria (the per-step judge)",
    )
    parser.add_argument("--output", type=Path, default=None, help=f"report path (default {DEFAULT_OUTPUT})")
    parser.add_argument(
        "--interpreted", action="store_true", help="run the judge's .py files as they are (skip the mypyc build)"
    )
    parser.add_argument(
        "--slow-judge",
        action="store_true",
        help="run every workflow judge through workflows.judge (mypyc-compiled unless --interpreted), not the fast "
        "judge (bench/judge/fast, numba) that detection and evidence-3 use by default",
    )
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (40 if args.quick else 1000)
    names = [name for name in args.cells.split(",") if name] or (list(QUICK) if args.quick else [])
    scenarios = [scenario for scenario in SCENARIOS if not names or scenario.name in names]
    unknown = set(names) - {scenario.name for scenario in scenarios}
    if unknown:
        parser.error(f"unknown cells: {', '.join(sorted(unknown))}")
    load_before = os.getloadavg()
    started = time.monotonic()
    fast = not args.slow_judge
    # The fast judge is checked against the source judge: that one then runs interpreted in this process.
    build = None if args.interpreted or fast else compiled.build()
    # Imported only now: with the compiled judge active, these must load it rather than the source.
    if build is not None:
        compiled.activate(build)
    from bench.judge.judges import DEFAULT_JUDGES, JUDGES
    from bench.judge.report import render
    from bench.judge.runner import run_cells

    judges = tuple(name for name in args.judges.split(",") if name) or DEFAULT_JUDGES
    if set(judges) - set(JUDGES):
        parser.error(f"unknown judges: {', '.join(sorted(set(judges) - set(JUDGES)))}")
    if build is not None:
        compiled.verify(VERIFY_RUNS, args.seed, judges, tuple(scenario.name for scenario in scenarios))
        print(f"compiled judge matches the source on {VERIFY_RUNS} runs of every cell", file=sys.stderr)
    judge_build = (
        f"compiled with mypyc, checked identical to the source on {VERIFY_RUNS} runs of every cell"
        if compiled.is_compiled()
        else "interpreted"
    )
    if fast:
        from bench.judge.fast import check
        from bench.judge.fast.run import FAST_JUDGES

        checked = tuple(name for name in judges if name in FAST_JUDGES)
        if checked:
            print(f"checking the fast judge on {FAST_CHECK_RUNS} runs of every cell...", file=sys.stderr, flush=True)
            outcome = check.check(FAST_CHECK_RUNS, args.seed, checked, tuple(scenario.name for scenario in scenarios))
            if outcome.differences:
                for difference in outcome.differences:
                    print(f"  {difference}", file=sys.stderr)
                print(
                    "the fast judge differs from the workflow judge: stopped (--slow-judge runs without it)",
                    file=sys.stderr,
                )
                return 1
            print(f"fast judge identical to the workflow judge on {outcome.polls} polls", file=sys.stderr)
            judge_build = (
                f"interpreted, and {' and '.join(checked)} ran on the fast judge (numba), checked identical to the "
                f"workflow judge on {FAST_CHECK_RUNS} runs of every cell ({outcome.polls:,} polls: every decision, "
                "verdict, trigger, step total and test statistic)"
            )
    cells = run_cells(scenarios, runs, args.workers, args.seed, judges, fast=fast)
    wall = time.monotonic() - started
    load_after = os.getloadavg()
    load = f"{load_before[0]:.2f} at the start, {load_after[0]:.2f} / {load_after[2]:.2f} (1 / 15 min) at the end"
    command = "python -m bench.judge " + " ".join(argv if argv is not None else sys.argv[1:])
    report = render(
        cells,
        command=command.strip(),
        runs=runs,
        wall_seconds=wall,
        workers=args.workers,
        load=load,
        judge_build=judge_build,
    )
    output = args.output if args.output is not None else (None if args.quick else DEFAULT_OUTPUT)
    if output is None:
        print(report)
    else:
        output.write_text(report)
        print(f"wrote {output} in {wall / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
