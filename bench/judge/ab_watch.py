"""A/B and watch cells: the workflow's own A/B winner rule and watch judge on the benchmark's simulated traffic.

``python -m bench.judge.ab_watch --runs 200`` writes docs/judge-benchmark-ab-watch.md.

* A/B cells: a 50/50 split of the benchmark's 100 req/s for up to 48 h, judged every 5 minutes as an ``ab_test``
  item judges it: ``workflows.judge`` under the rules new rollouts use (whole-rollout, robust), then
  ``workflows.judge.ab.interval`` and ``winner`` on quality at a fifth of the criteria's alpha (the guard at the
  other four fifths, as ``ab-test-alpha-budget`` splits it) with ``min_effect`` 0 (the
  candidate wins only while every criterion passes). Equal arms: any winner is a false one, and the rate must
  stay at or under alpha. A candidate better by 0.02 or 0.05: how long until it is named the winner.
* Watch cells: 24 h of a 1 % canary, then the cutover to 100 % and a watch as ``kinds.watch`` runs one
  (``analysis.start_watch_judge``: stable's counters at the cutover are all of stable's evidence, the
  candidate counts from the cutover). A healthy candidate: any rollback is a false switch-back.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Literal

from bench.judge.runner import run_seed
from bench.judge.scenarios import POLL_MINUTES, Scenario
from bench.judge.stats import clopper_pearson, quantile
from bench.judge.traffic import POLLS, baseline, simulate
from models.criteria import Criteria, RollbackTriggers
from models.strategy import AB_ALPHA_SHARE, ab_alpha
from workflows.judge import judge, new_judge_state
from workflows.judge.ab import interval, winner
from workflows.rollout.analysis import zeroed

CRITERIA = Criteria()
TRIGGERS = RollbackTriggers()
ALPHA = CRITERIA.alpha
AB_ALPHA = ab_alpha(None, ALPHA)
"""The winner interval's alpha under the ``ab-test-alpha-budget`` rules new rollouts use: a fifth of the budget."""
GUARD_CRITERIA = CRITERIA.model_copy(update={"alpha": ALPHA * (1.0 - AB_ALPHA_SHARE)})
"""The guard's criteria in a strategy with an A/B test: the other four fifths."""
DEFAULT_OUTPUT = Path("docs/judge-benchmark-ab-watch.md")
SEED_OFFSET = 7_000
"""Cell indices for ``run_seed`` start here, so these runs draw other numbers than the main table's cells."""

Kind = Literal["ab", "watch"]
Outcome = tuple[str | None, int | None, int | None]
"""What a run ended with ("candidate", "stable", "guard" for a rollback, None), its minute (None: never), and the
first minute the interval on quality alone was decisive (A/B only: what the winner rule waits for beyond it is
the guard, every criterion passing)."""


@dataclass(frozen=True)
class Cell:
    """One row of the A/B or watch table."""

    name: str
    kind: Kind
    description: str
    quality_delta: float = 0.0
    watch_hours: float = 1.0

    def scenario(self) -> Scenario:
        if self.kind == "ab":
            return Scenario(self.name, "aa", self.description, canary=0.5, quality_delta=self.quality_delta)
        return Scenario(self.name, "aa", self.description, steps=(0.01, 1.0))


CELLS: tuple[Cell, ...] = (
    Cell("ab-equal", "ab", "A/B 50/50, equal arms (quality 0.80 each)"),
    Cell("ab-quality+0.02", "ab", "A/B 50/50, candidate quality +0.02", quality_delta=0.02),
    Cell("ab-quality+0.05", "ab", "A/B 50/50, candidate quality +0.05", quality_delta=0.05),
    Cell("watch-healthy-1h", "watch", "healthy promotion after 24 h at 1 %, watched 1 h", watch_hours=1.0),
    Cell("watch-healthy-24h", "watch", "healthy promotion after 24 h at 1 %, watched 24 h", watch_hours=24.0),
)


def ab_run(cell: Cell, seed: int) -> Outcome:
    """One A/B test: the first poll that names a winner, or a guard rollback, within 48 h."""
    scenario = cell.scenario()
    run = simulate(scenario, seed)
    first = baseline(scenario)
    state = new_judge_state(
        first[0],
        first[1],
        method="sequential",
        whole_rollout=True,
        alpha_share=1.0,
        horizon_polls=POLLS,
        robust=True,
    )
    decisive: int | None = None
    for poll in range(POLLS):
        stable, candidate = run.reading(poll)
        judgement = judge(state, stable=stable, candidate=candidate, criteria=GUARD_CRITERIA, triggers=TRIGGERS)
        state = judgement.state
        minute = run.poll_minute(poll)
        if judgement.decision == "rollback":
            return "guard", minute, decisive
        found = interval(state, "quality", AB_ALPHA)
        if decisive is None and winner(found, "quality", 0.0, criteria_pass=True) is not None:
            decisive = minute
        passing = all(result.verdict == "pass" for result in judgement.criteria)
        named = winner(found, "quality", 0.0, criteria_pass=passing)
        if named is not None:
            return named, minute, decisive
    return None, None, decisive


def watch_run(cell: Cell, seed: int) -> Outcome:
    """One watch after a cutover at 24 h: the first rollback (a switch-back) within the watch, in its minutes."""
    run = simulate(cell.scenario(), seed)
    cut = POLLS // 2  # the scenario's second step (100 %) starts here
    stable_at_cut, candidate_at_cut = run.reading(cut - 1)
    state = new_judge_state(zeroed(stable_at_cut), candidate_at_cut, method="sequential")
    for poll in range(cut, min(POLLS, cut + round(cell.watch_hours * 60 / POLL_MINUTES))):
        _, candidate = run.reading(poll)
        judgement = judge(state, stable=stable_at_cut, candidate=candidate, criteria=CRITERIA, triggers=TRIGGERS)
        state = judgement.state
        if judgement.decision == "rollback":
            return "guard", (poll - cut + 1) * POLL_MINUTES, None
    return None, None, None


def _task(task: tuple[int, int, int]) -> tuple[int, Outcome]:
    index, run, base_seed = task
    cell = CELLS[index]
    seed = run_seed(base_seed, SEED_OFFSET + index, run)
    return index, ab_run(cell, seed) if cell.kind == "ab" else watch_run(cell, seed)


def run_cells(cells: list[Cell], runs: int, workers: int, base_seed: int) -> dict[str, list[Outcome]]:
    """Every run of ``cells``, over ``workers`` processes."""
    tasks = [(CELLS.index(cell), run, base_seed) for cell in cells for run in range(runs)]
    outcomes: dict[str, list[Outcome]] = {cell.name: [] for cell in cells}
    with Pool(processes=workers) as pool:
        for index, outcome in pool.imap_unordered(_task, tasks, chunksize=5):
            outcomes[CELLS[index].name].append(outcome)
    return outcomes


def _rate(count: int, runs: int) -> str:
    low, high = clopper_pearson(count, runs)
    return f"{count / runs:.3f} [{low:.3f}, {high:.3f}]"


def _minutes(values: list[float], q: float) -> str:
    value = quantile(values, q)
    return "never" if math.isinf(value) else f"{value:.0f}"


def render(outcomes: dict[str, list[Outcome]], *, command: str, wall: float, load: str) -> str:
    """The Markdown report: rates with 95 % Clopper-Pearson intervals, decision times as quantiles."""
    lines = [
        "# A/B and watch cells of the judge benchmark",
        "",
        "Generated by `" + command + f"` (see `bench/judge/ab_watch.py` for the model); {wall:.0f} s wall on `{load}`.",
        "",
        "The traffic is the main table's (docs/judge-benchmark.md): 100 req/s with a +-50 % daily cycle, 1 % "
        "errors, quality 0.80 (sd 0.15) per scored request, polled every 5 minutes. Rates carry 95 % "
        "Clopper-Pearson intervals; times are minutes from the start of the test (A/B) or the cutover (watch), "
        "'never' where fewer than that share of runs decided within the horizon.",
        "",
        f"## A/B test (50/50, quality, interval alpha {AB_ALPHA:g} of the budget {ALPHA:g}, horizon 48 h)",
        "",
        "| cell | runs | any winner named | candidate named | stable named | guard rollback | no decision | "
        "minutes to a winner: median | p90 | interval alone decisive: median |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell in CELLS:
        if cell.kind != "ab" or cell.name not in outcomes:
            continue
        runs = outcomes[cell.name]
        n = len(runs)
        count = {who: sum(1 for named, _, _ in runs if named == who) for who in ("candidate", "stable", "guard", None)}
        times = sorted(float(m) if named in ("candidate", "stable") and m else math.inf for named, m, _ in runs)
        alone = sorted(float(d) if d is not None else math.inf for _, _, d in runs)
        lines.append(
            f"| {cell.name}: {cell.description} | {n} | {_rate(count['candidate'] + count['stable'], n)} "
            f"| {_rate(count['candidate'], n)} | {_rate(count['stable'], n)} "
            f"| {_rate(count['guard'], n)} | {_rate(count[None], n)} | {_minutes(times, 0.5)} | "
            f"{_minutes(times, 0.9)} | {_minutes(alone, 0.5)} |"
        )
    lines += [
        "",
        "With equal arms any winner is a false winner: the 'any winner named' rate is what must stay at or under "
        f"the interval's alpha = {AB_ALPHA:g} (a fifth of the rollout's {ALPHA:g}). With a better candidate, "
        "'candidate named' is the power within 48 h. 'Interval alone "
        "decisive' is when the quality interval first excluded zero: the winner rule also waits for every "
        "criterion (errors, latency, quality) to pass, so the guard's evidence, not the effect's size, sets the "
        "time to a winner at these effects.",
        "",
        "## Watch after promotion (healthy candidate: any switch-back is false)",
        "",
        "| cell | runs | false switch-back | minutes to it: median of those |",
        "| --- | --- | --- | --- |",
    ]
    for cell in CELLS:
        if cell.kind != "watch" or cell.name not in outcomes:
            continue
        runs = outcomes[cell.name]
        n = len(runs)
        back = [float(m) for named, m, _ in runs if named == "guard" and m is not None]
        median = f"{quantile(back, 0.5):.0f}" if back else "-"
        lines.append(f"| {cell.name}: {cell.description} | {n} | {_rate(len(back), n)} | {median} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge.ab_watch", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs per cell (default 200)")
    parser.add_argument("--cells", default="", help="comma-separated: cell names, or 'ab' / 'watch' (default all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    wanted = {name for name in args.cells.split(",") if name}
    cells = [c for c in CELLS if not wanted or c.name in wanted or c.kind in wanted]
    unknown = wanted - {c.name for c in CELLS} - {"ab", "watch"}
    if unknown:
        parser.error(f"unknown cells: {', '.join(sorted(unknown))}")
    load = os.getloadavg()
    started = time.monotonic()
    outcomes = run_cells(cells, args.runs, args.workers, args.seed)
    wall = time.monotonic() - started
    command = "python -m bench.judge.ab_watch " + " ".join(argv if argv is not None else sys.argv[1:])
    report = render(
        outcomes,
        command=command.strip(),
        wall=wall,
        load=f"{os.cpu_count()} cores, load average {load[0]:.2f} at the start, {args.workers} workers",
    )
    args.output.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
