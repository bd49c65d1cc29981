"""The markdown report: tables of false rollbacks and detections, and the targets with measured numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.judge.judges import BASELINES, JUDGES
from bench.judge.runner import CellOutcome, JudgeOutcome
from bench.judge.scenarios import POLL_MINUTES, SCRAPE_SECONDS
from bench.judge.stats import median_interval
from bench.judge.traffic import SCRAPE_LOSS_MAX

JUDGE_TITLES = {
    "window": "naive 5-min window",
    "cumulative": "naive cumulative",
    "kayenta": "Kayenta-style hourly MW",
    "sequential": "sequential (+ hard triggers, as shipped)",
    "sequential-criteria": "sequential criteria only",
    "whole-rollout": "whole-rollout (ADR 13, + hard triggers)",
    "evidence": "issue 19's judge (judge-evidence patch, + hard triggers)",
    "detection": "issue 19's second judge (judge-evidence-2 patch, + hard triggers)",
}


def _percent(value: float) -> str:
    if value == 0:
        return "0%"
    return f"{100 * value:.1f}%" if value >= 0.001 else f"{100 * value:.2f}%"


def _rate(outcome: JudgeOutcome, count: int) -> str:
    value, low, high = outcome.rate(count)
    return f"{_percent(value)} [{_percent(low)}, {_percent(high)}]"


def _minutes(value: float, horizon: float) -> str:
    if math.isinf(value) or math.isnan(value):
        return f"> {horizon / 60:g} h"
    if value < 120:
        return f"{value:g} min"
    return f"{value / 60:.1f} h"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


@dataclass(frozen=True)
class Target:
    """A target of the brief and how to measure it."""

    text: str
    cell: str
    judge: str
    kind: str  # "false" (rate <= limit), "median" (minutes <= limit), "detected" (share >= limit),
    # "promoted" (share of runs that passed <= limit), "passed" (share that passed >= limit),
    # "untestable" (share that said untestable >= limit), "totals" (worst relative error <= limit)
    limit: float
    upper: float = 1.0
    """Rates: the 95 % interval's upper bound must also be at most this (issue 19: "<= 3 % (upper <= 5 %)")."""


TARGETS = (
    Target("false rollback <= 5 % under A/A (1 % errors)", "aa-1%", "sequential-criteria", "false", 0.05),
    Target("false rollback <= 5 % under A/A (0.1 % errors)", "aa-0.1%", "sequential-criteria", "false", 0.05),
    Target(
        "false rollback <= 5 % at the error-rate boundary", "boundary-errors-1.2x", "sequential-criteria", "false", 0.05
    ),
    Target("false rollback <= 5 % at the p95 boundary", "boundary-p95-1.1x", "sequential-criteria", "false", 0.05),
    Target(
        "false rollback <= 5 % at the quality boundary", "boundary-quality-0.02", "sequential-criteria", "false", 0.05
    ),
    Target("same, hard triggers included: A/A 1 %", "aa-1%", "sequential", "false", 0.05),
    Target("same, hard triggers included: A/A 0.1 %", "aa-0.1%", "sequential", "false", 0.05),
    Target(
        "median time to detect 2x errors (1 %, 1 % canary) <= 40 min", "errors-2x", "sequential-criteria", "median", 40
    ),
    Target(
        "2x errors at 0.1 % detected in >= 95 % within 48 h",
        "errors-2x-base0.1%",
        "sequential-criteria",
        "detected",
        0.95,
    ),
    Target("quality -0.05 rolled back in median <= 30 min", "quality-0.05", "sequential-criteria", "median", 30),
    Target(
        "p95 x1.5 (adequate buckets) rolled back in median <= 60 min", "p95-1.5x", "sequential-criteria", "median", 60
    ),
)


def _title(judge: str) -> str:
    return JUDGE_TITLES.get(judge, judge)


_E = "evidence-3"
"""The judge issue 19's targets are read on: the one new rollouts get (``judge-evidence-3``)."""
_ALPHA = 0.05
"""``criteria.alpha``: the one alpha of the whole rollout."""
ISSUE_19_TARGETS = (
    *(
        Target(
            f"false rollback <= 3 % (upper <= 5 %), {level:.0%} wobble, {weight}% canary", cell, _E, "false", 0.03, 0.05
        )
        for level in (0.08, 0.16, 0.3)
        for weight in (1, 5, 25)
        for cell in (f"od{level:g}-canary{weight}%",)
    ),
    Target("same, 30 % wobble over a whole rollout", "whole-od0.3", _E, "false", 0.03, 0.05),
    *(
        Target(
            f"same, 1.2x boundary, 30 % wobble, {weight}% canary",
            f"boundary-errors-1.2x-od0.3-canary{weight}%",
            _E,
            "false",
            0.03,
            0.05,
        )
        for weight in (5, 25)
    ),
    Target(
        "partial resets (10 pods, one restarting every 2 h): A/A false rollback <= alpha",
        "partial-resets",
        _E,
        "false",
        _ALPHA,
    ),
    Target("partial resets: step totals within 1 % of the truth", "partial-resets", _E, "totals", 0.01),
    Target("partial resets over a whole rollout: false rollback <= alpha", "partial-resets-whole", _E, "false", _ALPHA),
    Target("partial resets over a whole rollout: step totals within 1 %", "partial-resets-whole", _E, "totals", 0.01),
    *(
        Target(f"false promotion <= alpha at the boundary ({cell})", cell, _E, "promoted", _ALPHA)
        for cell in (
            "boundary-errors-1.2x",
            "boundary-p95-1.1x",
            "boundary-quality-0.02",
            "boundary-errors-1.2x-od0.16-canary5%",
            "boundary-errors-1.2x-od0.16-canary25%",
            "boundary-errors-1.2x-od0.3-canary5%",
            "boundary-errors-1.2x-od0.3-canary25%",
            "whole-boundary-errors-1.2x",
            "whole-boundary-p95-1.1x",
            "whole-boundary-quality-0.02",
            "heavy-tail-boundary-p95-1.1x",
        )
    ),
    Target("2x errors at 1 % base, 1 % canary: median <= 45 min", "errors-2x", _E, "median", 45),
    Target("2x errors at 1 % base, 25 % canary: median <= 25 min", "errors-2x-canary25%", _E, "median", 25),
    Target("2x errors at 0.1 % base detected in >= 95 % within 48 h", "errors-2x-base0.1%", _E, "detected", 0.95),
    Target("late onset (2x from hour 24): median <= 90 min", "errors-2x-onset24h", _E, "median", 90),
    *(
        Target(f"(no issue target; held to alpha) false rollback: {what}", cell, _E, "false", _ALPHA)
        for cell, what in (
            ("sticky-mix-shift", "sticky-user mix shift"),
            ("one-arm-bursts", "one-arm bursts"),
            ("low-traffic", "1 request per minute"),
            ("heavy-tail-aa", "heavy-tailed latency, A/A"),
            ("heavy-tail-boundary-p95-1.1x", "heavy-tailed latency at the p95 boundary"),
            ("partial-resets-whole-no-samples", "partial resets over a whole rollout, read without samples"),
        )
    ),
)
"""Issue 19's done-when lines this benchmark measures, on the judge new rollouts get (``evidence``)."""

_W = "whole-rollout"
_NO_REGRESSION = (
    "aa-1%",
    "aa-0.1%",
    "aa-1%-canary5%",
    "boundary-errors-1.2x",
    "boundary-p95-1.1x",
    "boundary-quality-0.02",
    "incident-both",
    "split-drift",
    "missed-scrapes",
    "counter-reset",
    *(f"od{level:g}-canary{weight}%" for level in (0.08, 0.16, 0.3) for weight in (1, 5, 25)),
    "boundary-errors-1.2x-od0.16-canary5%",
    "boundary-errors-1.2x-od0.16-canary25%",
    "zero-errors",
    "coarse-healthy",
    "whole-aa",
    "whole-boundary-errors-1.2x",
    "whole-od0.16",
)
ISSUE_11_TARGETS = (
    *(Target(f"false rollback <= 5 % ({cell})", cell, _W, "false", 0.05) for cell in _NO_REGRESSION),
    *(
        Target(f"false promotion <= 5 % at the boundary ({cell})", cell, _W, "promoted", 0.05)
        for cell in (
            "boundary-errors-1.2x",
            "boundary-p95-1.1x",
            "boundary-quality-0.02",
            "boundary-errors-1.2x-od0.16-canary5%",
            "boundary-errors-1.2x-od0.16-canary25%",
            "whole-boundary-errors-1.2x",
        )
    ),
    Target("median time to detect 2x errors (1 %, 1 % canary) <= 40 min", "errors-2x", _W, "median", 40),
    Target("late onset (2x after 24 h) median < 120 min", "errors-2x-onset24h", _W, "median", 119.99),
    Target("late onset in a 4-step rollout median < 120 min", "whole-errors-2x-onset24h", _W, "median", 119.99),
    Target("2x errors at 0.1 % detected in >= 95 % within 48 h", "errors-2x-base0.1%", _W, "detected", 0.95),
    Target("quality -0.05 rolled back in median <= 30 min", "quality-0.05", _W, "median", 30),
    Target("p95 x1.5 (adequate buckets) rolled back in median <= 60 min", "p95-1.5x", _W, "median", 60),
    Target("zero-error service passes (>= 95 %)", "zero-errors", _W, "passed", 0.95),
    Target("coarse buckets: p95 said untestable (>= 95 %)", "coarse-healthy", _W, "untestable", 0.95),
    Target("coarse buckets, untestable accepted: the rest passes (>= 95 %)", "coarse-healthy", _W, "passed", 0.95),
)
"""Issue 11's targets, measured on the whole-rollout judge (the one new runs use)."""


def _target_rows(cells: dict[str, CellOutcome], targets: tuple[Target, ...] = TARGETS) -> list[list[str]]:
    rows = []
    for target in targets:
        cell = cells.get(target.cell)
        if cell is None or target.judge not in cell.judges:
            continue
        outcome = cell.judges[target.judge]
        if target.kind == "false":
            value = outcome.false_rollbacks / outcome.runs
            upper = outcome.rate(outcome.false_rollbacks)[2]
            measured = _rate(outcome, outcome.false_rollbacks)
            met = value <= target.limit and upper <= target.upper
        elif target.kind == "median":
            value = outcome.delay(0.5)
            low, high = median_interval(outcome.delays)
            horizon = 48 * 60 - cell.scenario.onset_minute
            measured = f"{_minutes(value, horizon)} [{_minutes(low, horizon)}, {_minutes(high, horizon)}]"
            met = value <= target.limit
        elif target.kind == "totals":
            value = outcome.totals_error
            measured, met = f"{100 * value:.2f}% (worst of {outcome.runs} runs)", value <= target.limit
        elif target.kind == "promoted":
            value = outcome.passes / outcome.runs
            measured, met = _rate(outcome, outcome.passes), value <= target.limit
        elif target.kind in ("passed", "untestable"):
            count = outcome.passes if target.kind == "passed" else outcome.untestable
            measured, met = _rate(outcome, count), count / outcome.runs >= target.limit
        else:
            value = outcome.detections / outcome.runs
            measured, met = _rate(outcome, outcome.detections), value >= target.limit
        rows.append([target.text, f"`{target.cell}`", _title(target.judge), measured, "met" if met else "**missed**"])
    return rows


def render(
    cells: dict[str, CellOutcome],
    *,
    command: str,
    runs: int,
    wall_seconds: float,
    workers: int,
    judge_build: str = "interpreted",
    load: str = "not recorded",
) -> str:
    """The whole markdown document."""
    judges = [name for name in JUDGES if all(name in cell.judges for cell in cells.values())]
    lines = [
        "# Judge benchmark",
        "",
        "Generated whole, in one run, by `bench/judge` (see its module docstrings for the traffic model and the "
        "judges); nothing in this file is edited by hand. Reproduce:",
        "",
        "```",
        command,
        "```",
        "",
        f"{runs} runs per cell, {len(cells)} cells, {workers} worker processes, wall time {wall_seconds / 60:.1f} min "
        f"(the judge's build and its check against the source included; load average {load}); the judge's modules "
        f"{judge_build}. "
        "Each run is 48 h: one canary step, or the 4-step rollout in the `whole-*` cells (1, 5, 25, 50 %, 12 h "
        "each); 100 req/s with a +-50 % daily cycle (random phase) unless the cell says otherwise, polls every 5 "
        "minutes, all judges on the same simulated traffic, the late-onset detector's horizon 1,153 polls as in "
        "production. Intervals are 95 % (Clopper-Pearson for rates, order statistics for medians). Every judge keeps "
        "judging for the 48 h (a pass does not end the run): the false-rollback rates are those of a rollout "
        "monitored that long. The p95's testability decided once per step (a drifting p95 around a bucket edge) is "
        "measured by `python -m bench.judge.untestable` "
        "([judge-benchmark-untestable.md](judge-benchmark-untestable.md)); the A/B winner rule and the watch after "
        "promotion by `python -m bench.judge.ab_watch` ([judge-benchmark-ab-watch.md](judge-benchmark-ab-watch.md)).",
    ]
    for title, targets in (
        ("Targets of issue 19 (done when, the judge new rollouts get)", ISSUE_19_TARGETS),
        ("Targets of issue 11 (whole-rollout judge)", ISSUE_11_TARGETS),
        ("Targets of the per-step judge", TARGETS),
    ):
        rows = _target_rows(cells, targets)
        if rows:
            lines += ["", f"## {title}", ""]
            lines += _table(["target", "cell", "judge", "measured", ""], rows)
    workflow_judges = [name for name in judges if name not in BASELINES and name != "sequential-criteria"]
    lines += [
        "",
        "## Passes: runs in which every criterion passed (or was untestable) at some poll / then rolled back / "
        "said untestable",
        "",
    ]
    lines += _table(
        ["cell", "what", *(_title(name) for name in workflow_judges)],
        [
            [
                f"`{name}`",
                cell.scenario.description,
                *(
                    f"{_rate(cell.judges[j], cell.judges[j].passes)} / {cell.judges[j].passes_then_rollback} / "
                    f"{cell.judges[j].untestable}"
                    for j in workflow_judges
                ),
            ]
            for name, cell in cells.items()
        ],
    )
    header = ["cell", "what", *(_title(name) for name in judges)]
    false_rows = [
        [
            f"`{name}`",
            cell.scenario.description,
            *(_rate(cell.judges[j], cell.judges[j].false_rollbacks) for j in judges),
        ]
        for name, cell in cells.items()
        if not cell.scenario.violates
    ]
    lines += ["", "## False rollbacks within 48 h (candidate meets every criterion)", ""]
    lines += _table(header, false_rows)
    pod_cells = {name: cell for name, cell in cells.items() if cell.scenario.pods}
    if pod_cells and workflow_judges:
        # Every cell with per-pod counters, targets or not: the reader without samples has none but is shown.
        lines += [
            "",
            "## Step totals: worst relative error of the requests and errors counted per step and version "
            "(cells with per-pod counters)",
            "",
        ]
        lines += _table(
            ["cell", "what", *(_title(name) for name in workflow_judges)],
            [
                [
                    f"`{name}`",
                    cell.scenario.description,
                    *(
                        f"{100 * cell.judges[j].totals_error:.2f}% (worst of {cell.judges[j].runs} runs)"
                        for j in workflow_judges
                    ),
                ]
                for name, cell in pod_cells.items()
            ],
        )
    regressions = {name: cell for name, cell in cells.items() if cell.scenario.violates}
    if regressions:
        horizon = {name: 48 * 60 - cell.scenario.onset_minute for name, cell in regressions.items()}
        lines += ["", "## Share of regressions rolled back within 48 h", ""]
        lines += _table(
            header,
            [
                [f"`{n}`", c.scenario.description, *(_rate(c.judges[j], c.judges[j].detections) for j in judges)]
                for n, c in regressions.items()
            ],
        )
        lines += ["", "## Time to detect: median / p90 (from the onset)", ""]
        lines += _table(
            header,
            [
                [
                    f"`{n}`",
                    c.scenario.description,
                    *(" / ".join(_minutes(c.judges[j].delay(q), horizon[n]) for q in (0.5, 0.9)) for j in judges),
                ]
                for n, c in regressions.items()
            ],
        )
        lines += ["", "## Canary errors served before the rollback (median, from the onset)", ""]
        lines += _table(
            header,
            [
                [
                    f"`{n}`",
                    c.scenario.description,
                    *(f"{sorted(c.judges[j].errors)[len(c.judges[j].errors) // 2]:,}" for j in judges),
                ]
                for n, c in regressions.items()
            ],
        )
        false_before = [
            [f"`{n}`", c.scenario.description, *(_rate(c.judges[j], c.judges[j].false_rollbacks) for j in judges)]
            for n, c in regressions.items()
            if c.scenario.onset_minute
        ]
        if false_before:
            lines += ["", "## Rolled back before the onset (false rollbacks in the first 24 h of onset cells)", ""]
            lines += _table(header, false_before)
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


NOTES = f"""## How to read this

* **Judges.** **naive 5-min window**: the common alert rule, on each poll's increments alone: candidate
  error rate > 2x stable's, interpolated p95 > 1.5x stable's, or mean quality more than 0.02 below stable's.
  **naive cumulative**: the pre-registered limits (`Criteria`: error-rate ratio 1.2, p95 ratio 1.1, quality
  -0.02) as point estimates on the step's cumulative data, checked at every poll once the candidate has
  served 500 requests in the step (the threshold method of `workflows/judge/threshold.py`, without the hard
  triggers). **Kayenta-style hourly MW**: `bench/judge/kayenta.py`, Mann-Whitney intervals on the per-minute
  points since the step started, every hour. The sequential judges are `workflows.judge`, as below.
* **False rollbacks** count any rollback of a candidate that meets every criterion (A/A, boundary and
  nuisance cells, and the first 24 h of the onset cells). The sequential judge's criteria are built to keep
  this below `criteria.alpha` = 5 % (half of it for the error rate, a quarter each for latency and quality)
  however long the step is watched; the naive rules have no such guarantee and are checked 576 times.
* **sequential (+ hard triggers, as shipped)** is what the workflow does: `decision == "rollback"`, where
  the hard triggers (`RollbackTriggers`: error ratio > 2, p95 ratio > 1.5 on point estimates once
  `min_requests` are in) act as an immediate safety net; under the sequential method the error trigger also
  needs the excess over 2x to be significant (one-sided conditional binomial test, p < 0.001,
  `workflows/judge/trigger_evidence.py`). **sequential criteria only** ignores the triggers, to separate what
  the anytime-valid tests do from what the point-estimate triggers add.
* **Time to detect** runs from the regression's onset to the poll (or hourly analysis) that rolled back;
  "> 48 h" (or "> 24 h" for onsets at 24 h) when fewer than half (p90: 90 %) of the runs rolled back.
* **Canary errors served**: candidate errors from the onset until the rollback (or the end of the run).
* Simulation (numpy, all 2,880 minutes of a run in one draw): requests per minute from the normal
  approximation of a Poisson, the candidate's share and each version's errors from exact binomial draws,
  quality from per-minute sample means, and per-poll latency histograms from one multinomial draw of the
  poll's requests on 7.5 % buckets (coarse cell: powers of two). Kayenta's per-minute p95s come from the
  sampling distribution of a sample quantile (actual samples below 20 requests a minute), drawn independently
  of the polls' histograms (same latency distribution, not the same requests); requests, errors and quality
  sums are the same for every judge. Counter resets and missed scrapes reach the sequential judge as raw
  counters (it does its own differencing); the naive judges see the step's true increments as the scrapes
  deliver them (a missed scrape shows no new data until the next one).
* **whole-rollout** is the judge of runs started under the `judge-whole-rollout` patch (ADR 13): the error
  test's evidence carries across steps (one alpha for the rollout), a Shiryaev-Roberts detector restarted at
  every poll catches late onsets, each poll's error evidence is discounted by the estimated dispersion of the
  error split (quasi-likelihood, variance v (1 + kappa v)), an absolute error-rate margin (0.001) lets a clean
  service pass, and the p95 says `untestable` when the buckets are wider than its limit. Latency and quality
  spend 1 / steps of their budget per step. The whole-rollout cells (`whole-*`) run the default four steps
  (1, 5, 25, 50 %, 12 h each); the per-step judges start afresh at each step, as the workflow did.
* **Passes**: a run "passes" at the first poll where every criterion is `pass` (or `untestable`) and nothing
  rolls back: the workflow would move the step on there. At a boundary that is a false promotion.
* **Overdispersed cells** (`od*`): each version's error rate is multiplied by its own gamma factor (mean 1,
  sd 8, 16 or 30 %) drawn per poll: bursts, a noisy pod, a heavy user.
* **issue 19's judge** (`evidence`) is the whole-rollout judge as new rollouts run it under the `judge-evidence`
  patch (`robust=True`): an upper confidence bound on the error dispersion under a 30 % wobble ceiling, capped
  evidence per poll, passes earned per step, every rollback path inside the one alpha. The p95's testability is
  decided per poll here (the `untestable-once` rule has its own benchmark, `bench/judge/untestable.py`).
* **issue 19's second judge** (`detection`) is what new rollouts run under `judge-evidence-2` (ADR 44): the
  evidence judge with the kappa bound's margin scaled to the information per poll, the dispersion measured against
  the recent polls' ratio, and 0.3 of the error fail budget for the late-onset detector.
* **Issue 19's cells.** `partial-resets*`: each version runs 10 pods reporting their own counters
  (`Counters.series`, as a per-pod Prometheus query or an http-json breakdown delivers them); every 2 h the next
  pod of each version restarts in the middle of a poll. `partial-resets` and `partial-resets-whole` are read the
  way the Prometheus reader reads them: with Prometheus' samples (a scrape every {SCRAPE_SECONDS} s), the pod loses
  only what it served between its last scrape and its restart (a uniform share of at most {SCRAPE_SECONDS} s /
  {POLL_MINUTES} min = {SCRAPE_LOSS_MAX:.0%} of that poll's traffic on that pod), and the reading after the restart
  carries the pod's counters at that scrape (`Counters.before_restart`), which the judge counts once.
  `partial-resets-whole-no-samples` is the same rollout read without history (http-json): nothing says what the pod
  served before its restart, its new counters hold half of that poll's traffic on it and the other half is lost; it
  has no step-totals target. "Step totals" is the worst relative error, over every run, step and version, of the
  requests and errors the judge counted against those served. `sticky-mix-shift`: users keep their version; heavy
  users (3x the light ones' error rate) are half of stable's traffic and 40-60 % of the candidate's, drifting over
  the 48 h (the candidate's error ratio moves between 0.9 and 1.1: within the 1.2 limit). `one-arm-bursts`: the
  candidate's error rate x10 for one poll every 6 h (a mean ratio of 1.125: within the limit). `low-traffic`: 1
  request per minute for the whole service (Poisson). `heavy-tail-*`: lognormal latency of log-sd 1.0 with the p95
  kept at 250 ms (median 48 ms, p99.9 about 1 s). Cells with no issue target are held to alpha.
* **Horizon.** The whole-rollout judges get the late-onset detector's horizon production gives the default
  48 h rollout at 5-minute polls (`horizon_polls`: 2 x 576 + 1 = 1,153), not the 576 polls simulated.
* Known limits of the (per-step) sequential judge, visible above: (1) evidence accumulates over the whole step, so a
  regression that starts after 24 good hours is caught only once it dominates the step's data (hours, not
  minutes); keep steps short or restart the step (a new baseline) periodically. (2) Latency is decided at
  bucket edges only: with 7.5 % buckets a 1.2x p95 regression sits within two bucket widths of the 1.1x
  limit and is slow to prove; with power-of-two buckets a 1.5x regression cannot be proven at all (the judge
  says so in its warnings and stays inconclusive) and only the hard trigger can act.
"""
