"""Worker telemetry and tuning settings from the environment, apart from the connection settings.

Kept out of ``workers.settings`` so the connection and policy settings (edited for other features) and these
scaling knobs change independently. Every value has a default that runs a worker well on the dev server; the
reasons for each default are in ADR 16 (docs/architecture-decisions.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workers.settings import SettingsError

DEFAULT_MAX_CACHED_WORKFLOWS = 4000
"""Room for 2,000 rollouts: each rollout also runs a lease workflow, so the SDK's default of 1,000 runs out at
~500 rollouts, after which every analysis replays its whole history (ADR 16)."""

DEFAULT_MAX_CONCURRENT_ACTIVITIES = 2500
"""Every rollout's lease keeps one long ``watch_holder`` activity open for the whole rollout. At the SDK's default
of 100 slots, 100 rollouts on one worker fill every slot with watchers and no analysis, router call or rollback
can run (measured: aborts unanswered for minutes, ADR 16). The watchers are async and mostly asleep, so slots are
cheap: room for the 2,000 rollouts the cache holds, and 500 more for the work that must not wait."""


@dataclass(frozen=True)
class WorkerTuning:
    """How big a worker's cache is, how much it runs at once, and where it exposes its metrics."""

    metrics_bind: str | None = None
    max_cached_workflows: int = DEFAULT_MAX_CACHED_WORKFLOWS
    max_concurrent_workflow_tasks: int | None = None
    max_concurrent_activities: int = DEFAULT_MAX_CONCURRENT_ACTIVITIES
    ready_file: Path | None = None
    """Exists while the worker polls (a readiness probe checks it); removed when a drain starts."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WorkerTuning:
        """Read the tuning, failing with one message that names every bad variable."""
        env = dict(os.environ if env is None else env)
        problems: list[str] = []

        def count(name: str, default: int | None, minimum: int) -> int | None:
            raw = env.get(name, "")
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                value = minimum - 1
            if value < minimum:
                problems.append(f"{name}={raw!r}: expected a whole number >= {minimum}")
                return default
            return value

        bind = env.get("WORKER_METRICS_BIND") or None
        if bind is not None:
            host, sep, port = bind.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                problems.append(f"WORKER_METRICS_BIND={bind!r}: expected HOST:PORT, e.g. 0.0.0.0:9464")
        cached = count("WORKER_MAX_CACHED_WORKFLOWS", DEFAULT_MAX_CACHED_WORKFLOWS, 0)
        workflow_tasks = count("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", None, 2)
        activities = count("WORKER_MAX_CONCURRENT_ACTIVITIES", DEFAULT_MAX_CONCURRENT_ACTIVITIES, 1)
        if problems:
            raise SettingsError("invalid worker tuning: " + "; ".join(problems))
        return cls(
            metrics_bind=bind,
            max_cached_workflows=cached if cached is not None else DEFAULT_MAX_CACHED_WORKFLOWS,
            max_concurrent_workflow_tasks=workflow_tasks,
            max_concurrent_activities=activities if activities is not None else DEFAULT_MAX_CONCURRENT_ACTIVITIES,
            ready_file=Path(env["WORKER_READY_FILE"]) if env.get("WORKER_READY_FILE") else None,
        )
