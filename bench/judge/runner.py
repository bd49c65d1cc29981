"""Run cells in parallel and aggregate per-judge outcomes."""

from __future__ import annotations

import gc
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing import Pool

from bench.judge.judges import BASELINES, DEFAULT_JUDGES, JUDGES, Result, run_all
from bench.judge.scenarios import HOURS, SCENARIOS, Scenario
from bench.judge.stats import clopper_pearson, quantile

CHUNK = 25


def run_seed(base_seed: int, cell_index: int, run: int) -> int:
    """The seed of one run: distinct per cell and run, fixed by the base seed."""
    return (base_seed * 1_000_003 + cell_index * 100_003 + run) & 0x7FFFFFFF


def _start_worker() -> None:
    """No cyclic garbage collection between chunks: a run allocates tens of thousands of small objects (readings,
    judge states) that reference counting frees, and the collector's passes over them cost a third of the time."""
    gc.disable()


def _run_chunk(task: tuple[int, int, int, int, tuple[str, ...], bool]) -> tuple[int, list[dict[str, Result]]]:
    cell_index, first, last, base_seed, judges, fast = task
    scenario = SCENARIOS[cell_index]
    results = []
    for run in range(first, last):
        results.append(run_all(scenario, run_seed(base_seed, cell_index, run), judges, fast=fast))
    gc.collect()  # whatever cycles the chunk left, once
    return cell_index, results


def _cost(scenario: Scenario) -> int:
    """Rough relative cost of a run, to hand out the slowest cells first (no worker idles at the end)."""
    return (10 if scenario.pods else 1) * (1 if scenario.violates and not scenario.onset_minute else 4)


@dataclass
class JudgeOutcome:
    """One judge on one cell."""

    runs: int = 0
    false_rollbacks: int = 0
    """Rollbacks of a candidate meeting every criterion (A/A, boundary, nuisance cells; before the onset)."""
    detections: int = 0
    delays: list[float] = field(default_factory=list)
    """Minutes from the onset to the rollback, +inf when not within the 48 h."""
    errors: list[int] = field(default_factory=list)
    """Canary errors served from the onset until the rollback (or the end)."""
    passes: int = 0
    """Runs in which every criterion passed (or was untestable) at some poll: the step would have moved on."""
    passes_then_rollback: int = 0
    """Runs that passed and were later rolled back."""
    untestable: int = 0
    """Runs in which a criterion said ``untestable``."""
    totals_error: float = 0.0
    """Worst relative error of the judge's step totals against the traffic served, over every run and step."""

    def rate(self, count: int) -> tuple[float, float, float]:
        low, high = clopper_pearson(count, self.runs)
        return count / self.runs if self.runs else math.nan, low, high

    def delay(self, q: float) -> float:
        return quantile(self.delays, q)


@dataclass
class CellOutcome:
    scenario: Scenario
    judges: dict[str, JudgeOutcome]


def run_cells(
    scenarios: Iterable[Scenario],
    runs: int,
    workers: int,
    base_seed: int,
    judges: tuple[str, ...] = DEFAULT_JUDGES,
    *,
    fast: bool = False,
) -> dict[str, CellOutcome]:
    """All runs of the given cells, spread over ``workers`` processes, for ``judges`` (the baselines always).

    ``fast``: the judges ``bench/judge/fast/`` covers run there (see ``run_all``).
    """
    judges = tuple(name for name in JUDGES if name in judges or name in BASELINES)
    chosen = list(scenarios)
    indices = sorted((SCENARIOS.index(scenario) for scenario in chosen), key=lambda i: -_cost(SCENARIOS[i]))
    tasks = [
        (index, first, min(runs, first + CHUNK), base_seed, judges, fast)
        for index in indices
        for first in range(0, runs, CHUNK)
    ]
    outcomes = {scenario.name: CellOutcome(scenario, {name: JudgeOutcome() for name in judges}) for scenario in chosen}
    with Pool(processes=workers, initializer=_start_worker) as pool:
        for cell_index, results in pool.imap_unordered(_run_chunk, tasks):
            scenario = SCENARIOS[cell_index]
            cell = outcomes[scenario.name]
            if cell.judges[JUDGES[0]].runs + len(results) == runs:
                print(f"  {scenario.name}: {runs} runs done", file=sys.stderr, flush=True)
            for result in results:
                for name, (minute, errors, passed, untestable, totals_error) in result.items():
                    outcome = cell.judges[name]
                    outcome.totals_error = max(outcome.totals_error, totals_error)
                    outcome.runs += 1
                    outcome.errors.append(errors)
                    outcome.passes += passed is not None
                    outcome.passes_then_rollback += passed is not None and minute is not None
                    outcome.untestable += untestable
                    if minute is None:
                        outcome.delays.append(math.inf)
                    elif scenario.violates and minute > scenario.onset_minute:
                        outcome.detections += 1
                        outcome.delays.append(minute - scenario.onset_minute)
                    else:
                        outcome.false_rollbacks += 1
                        outcome.delays.append(math.inf)
    return outcomes


HORIZON_MINUTES = HOURS * 60
