"""The capacity model of docs/capacity.md: from measured unit costs to what N rollouts need.

    python -m bench.capacity busy.json idle.json [--rollouts 10000 100000] [--interval 5m] [--hours 48]

``busy.json`` is a ``python -m bench.scale`` result where the rollouts analyse (its ``per_analysis`` figures);
``idle.json`` one where they only wait (an interval longer than the window: its ``per_rollout_minute`` figures
are what a running rollout costs between analyses: the lease watcher's describes and heartbeats, long polls).
The model is linear in both: it is a model, not a measurement, and docs/capacity.md says where it stops holding.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEARTBEATS_SENT_EVERY_S = 60.0
"""The lease watcher heartbeats once a tick (``activities.lease.WATCH_TICK``, a minute, under the 3-minute timeout
of ``workflows.lease.WATCH_SLOW_HEARTBEAT``), and the worker flushes each one within a second
(``workers.build.HEARTBEAT_FLUSH``). Each one sent is a billed action on Temporal Cloud and leaves no event."""

EVENTS_PER_RUN = 200
"""``workflows.rollout.analysis.LEAN_HISTORY_EVENTS``: a run continues as new past this many events (300 before the
``lean-history`` patch)."""


@dataclass(frozen=True)
class UnitCosts:
    """What one analysis costs, and what one running rollout costs per minute between analyses."""

    events: float
    history_bytes: float
    actions: float
    worker_cpu_ms: float
    server_cpu_ms: float
    db_rows: float | None
    db_wal_bytes: float | None
    idle_worker_cpu_ms_per_min: float
    idle_server_cpu_ms_per_min: float

    @classmethod
    def from_runs(cls, busy: dict[str, Any], idle: dict[str, Any]) -> UnitCosts:
        """Per-analysis costs net of the idle cost the busy run's rollouts also paid while it was measured."""
        per = busy["per_analysis"]
        if per is None:
            raise ValueError("the busy run measured no analysis: give it an interval shorter than its window")
        idle_minute = idle["per_rollout_minute"]
        analyses_per_rollout_minute = 60 * float(busy["analyses_per_s_done"]) / float(busy["rollouts"])

        def net(key: str) -> float:
            return max(0.0, float(per[key]) - float(idle_minute[key]) / analyses_per_rollout_minute)

        return cls(
            events=float(per["events"]),
            history_bytes=float(per["history_bytes"]),
            actions=float(per["cloud_actions_in_history"]),
            worker_cpu_ms=net("worker_cpu_ms"),
            server_cpu_ms=net("server_cpu_ms"),
            db_rows=per.get("db_rows_changed"),
            db_wal_bytes=per.get("db_wal_bytes"),
            idle_worker_cpu_ms_per_min=float(idle_minute["worker_cpu_ms"]),
            idle_server_cpu_ms_per_min=float(idle_minute["server_cpu_ms"]),
        )


@dataclass(frozen=True)
class Needs:
    """What ``rollouts`` concurrent rollouts analysing every ``interval_s`` need, by the model."""

    rollouts: int
    analyses_per_s: float
    worker_cores: float
    server_cores: float
    db_rows_per_s: float | None
    db_wal_mb_per_s: float | None
    history_events_per_rollout: float
    history_mb_per_rollout: float
    runs_per_rollout: float
    actions_per_rollout: float
    actions_per_month_per_slot: float
    """A slot kept busy all month (one rollout after another) at the same cadence."""


def needs(costs: UnitCosts, rollouts: int, interval_s: float, hours: float) -> Needs:
    """Linear in the rollouts: analyses cost per analysis, waiting costs per rollout-minute."""
    rate = rollouts / interval_s
    analyses = hours * 3600 / interval_s
    heartbeats = hours * 3600 / HEARTBEATS_SENT_EVERY_S
    per_rollout_actions = analyses * costs.actions + heartbeats
    month_hours = 30 * 24
    return Needs(
        rollouts=rollouts,
        analyses_per_s=rate,
        worker_cores=(rate * costs.worker_cpu_ms + rollouts * costs.idle_worker_cpu_ms_per_min / 60) / 1000,
        server_cores=(rate * costs.server_cpu_ms + rollouts * costs.idle_server_cpu_ms_per_min / 60) / 1000,
        db_rows_per_s=None if costs.db_rows is None else rate * costs.db_rows,
        db_wal_mb_per_s=None if costs.db_wal_bytes is None else rate * costs.db_wal_bytes / 1e6,
        history_events_per_rollout=analyses * costs.events,
        history_mb_per_rollout=analyses * costs.history_bytes / 1e6,
        runs_per_rollout=analyses * costs.events / EVENTS_PER_RUN,
        actions_per_rollout=per_rollout_actions,
        actions_per_month_per_slot=per_rollout_actions * month_hours / hours,
    )


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected e.g. 30s, 5m or 1h")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def _row(n: Needs) -> str:
    def maybe(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    return (
        f"| {n.rollouts:,} | {n.analyses_per_s:,.1f} | {n.worker_cores:,.2f} | {n.server_cores:,.2f} "
        f"| {maybe(n.db_rows_per_s, 0)} | {maybe(n.db_wal_mb_per_s, 2)} | {n.history_events_per_rollout:,.0f} "
        f"| {n.history_mb_per_rollout:,.1f} | {n.runs_per_rollout:,.0f} | {n.actions_per_rollout:,.0f} "
        f"| {n.actions_per_month_per_slot:,.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("busy", type=Path)
    parser.add_argument("idle", type=Path)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--interval", type=_seconds, default=_seconds("5m"))
    parser.add_argument("--hours", type=float, default=48.0)
    args = parser.parse_args()
    costs = UnitCosts.from_runs(json.loads(args.busy.read_text()), json.loads(args.idle.read_text()))
    print(json.dumps(costs.__dict__))
    print(
        "| rollouts | analyses/s | worker cores | server cores | DB rows/s | DB WAL MB/s | events a rollout "
        "| history MB a rollout | runs a rollout | Cloud actions a rollout | actions a month per slot |"
    )
    print("|" + " --- |" * 11)
    for count in args.rollouts:
        print(_row(needs(costs, count, args.interval, args.hours)))


if __name__ == "__main__":
    main()
