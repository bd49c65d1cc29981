"""``python -m bench.scale``: N rollouts analysing at a fixed rate on 1 or 3 real worker processes.

    python -m bench.scale --server dev --workers 1 --rollouts 100 --interval 30s
    python -m bench.scale --server cluster --workers 3 --rollouts 100 --interval 3s --sqlite-wal

Every rollout sits in one long step against the simulator (thin traffic: each analysis is inconclusive, so the
rollout keeps analysing) at ``--interval``; N / interval is the analysis rate (100 rollouts every 3 s is the
33 analyses/s of 1,000 rollouts every 30 s, with a tenth of the history in the worker's cache). The N starts go
out at once (a burst). After a warm-up the benchmark samples each worker's RSS and CPU for ``--window`` seconds,
then aborts every rollout and reads the histories: analysis lag (timer due -> counter read started) p50/p99,
workflow-task failures, and how long the aborts took to be answered. Per analysis (the capacity model's inputs,
docs/capacity.md): events and history bytes written in the window, worker CPU, server CPU net of the idle
server's (measured for ``--idle`` seconds before the starts), bytes the server wrote, and on the cluster
PostgreSQL's commits and changed rows net of idle. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scale.burst import BurstPath, burst_path, summarise
from bench.scale.measure import (
    ProcessSample,
    analyses_started,
    analysis_lag_points,
    billed_actions,
    first_analysis_after,
    percentile,
    sample,
    task_failure_causes,
    task_failures,
    tree_cpu_seconds,
    window_events,
    written_bytes,
)
from models.lease import lease_id
from simulator.procs import free_port, running
from simulator.testing import Simulator, run_simulator
from tests.cluster.cluster import running_cluster
from tests.cluster.workers import worker_process
from tests.servers import DEV_SERVER_FLAGS, TEMPORAL_CLI, require
from tests.workflows.helpers import start_rollout
from workers.client import connect
from workers.settings import Settings
from workflows import search_attributes

WAL_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected e.g. 3s or 5m")
    return float(match.group(1)) * (60 if match.group(2) == "m" else 1)


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("WORKER_"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected WORKER_NAME=VALUE")
    return name, value


RESULT_WAITS = 100
"""Rollouts whose result the benchmark awaits at once: the dev server refuses more concurrent long polls per
namespace ("namespace concurrent poller limit exceeded"), and a refused wait read as a rollout not rolled back."""
LATE_SECONDS = 10.0
"""An analysis this late is worth reading the history of (``--dump-late``)."""


@dataclass(frozen=True)
class Server:
    """Where the benchmark's server listens, and the processes whose CPU and writes are the server's cost."""

    address: str
    pids: list[int]
    postgres_port: int | None = None

    def cpu_seconds(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.pids)

    def written_bytes(self) -> int:
        return sum(written_bytes(pid) for pid in self.pids)

    def database_writes(self) -> tuple[int, int, int] | None:
        """PostgreSQL's transactions (reads included), changed rows and WAL bytes so far (the cluster only)."""
        if self.postgres_port is None:
            return None
        query = (
            "select sum(xact_commit), sum(tup_inserted + tup_updated + tup_deleted), "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint "
            "from pg_stat_database where datname like 'temporal%'"
        )
        psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]
        argv = [psql, "-h", "127.0.0.1", "-p", str(self.postgres_port), "-U", "postgres", "-qtA", "-c", query]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
        commits, rows, wal = out.split("|")
        return int(commits), int(rows), int(wal)


@contextlib.asynccontextmanager
async def _dev_server(folder: Path, wal: bool, memory: bool = False) -> AsyncIterator[Server]:
    address = f"127.0.0.1:{free_port()}"

    async def ready(_process: object) -> bool:
        try:
            await (await connect(Settings(address=address))).count_workflows()
        except Exception:
            return False
        return True

    argv = [str(require(TEMPORAL_CLI)), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    argv += ["--port", address.rsplit(":", 1)[1], "--log-level", "warn"]
    argv += [] if memory else ["--db-filename", str(folder / "temporal.db")]
    argv += [*DEV_SERVER_FLAGS, *search_attributes.cli_flags(), *(WAL_PRAGMAS if wal else ())]
    log = folder / "temporal.log"
    async with running(argv, ready=ready, what="dev server", timeout=60, log=log, interval=0.2) as process:
        yield Server(address=address, pids=[process.pid])


@contextlib.asynccontextmanager
async def _server(kind: str, folder: Path, wal: bool, memory: bool = False) -> AsyncIterator[Server]:
    if kind == "dev":
        async with _dev_server(folder, wal, memory) as server:
            yield server
    else:
        async with running_cluster(folder / "cluster") as cluster:
            pids = [int(f.read_text().strip()) for f in sorted((cluster.state / "pids").glob("*.pid"))]
            postmaster = int((cluster.state / "postgres" / "postmaster.pid").read_text().split()[0])
            env = dict(
                line.split("=", 1) for line in (cluster.state / "cluster.env").read_text().splitlines() if "=" in line
            )
            yield Server(address=cluster.address, pids=[*pids, postmaster], postgres_port=int(env["POSTGRES_PORT"]))


def _spec(sim: Simulator, service: str, interval: float) -> dict[str, Any]:
    return {
        "service": service,
        "requested_by": "bench",
        "stable": {"version": sim.stable_version, "endpoint": sim.stable_url},
        "candidate": {"version": sim.candidate_version, "endpoint": sim.candidate_url},
        "router": {"kind": "http", "url": sim.routes_url(service)},
        "metrics": {"kind": "http-json", "url": sim.metrics_url(service)},
        "steps": [{"weight": 10, "observe": "2h"}],
        "analysis_interval": f"{interval:g}s",
        "criteria": {"min_requests": 1_000_000},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    queue = f"scale-{uuid.uuid4().hex[:8]}"
    kept = contextlib.nullcontext(tempfile.mkdtemp(prefix="scale-")) if args.keep_logs else None
    with kept or tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        folder = Path(tmp)
        if args.keep_logs:
            print(f"logs kept in {folder}", file=sys.stderr)
        os.chmod(folder, 0o755)
        async with (
            _server(args.server, folder, args.sqlite_wal, args.dev_memory) as server,
            run_simulator(knobs={"rps": 5}) as sim,
            contextlib.AsyncExitStack() as stack,
        ):
            env = {"WORKER_MAX_CACHED_WORKFLOWS": str(args.cache)} if args.cache else {}
            if args.activities:
                env["WORKER_MAX_CONCURRENT_ACTIVITIES"] = str(args.activities)
            env.update(args.worker_env)
            metrics = f"127.0.0.1:{free_port()}" if args.workers == 1 else None
            if metrics is not None:
                env["WORKER_METRICS_BIND"] = metrics
            pids = [
                await stack.enter_async_context(worker_process(server.address, queue, folder / f"worker-{i}.log", env))
                for i in range(args.workers)
            ]
            client = await connect(Settings(address=server.address))
            idle = await _idle_rates(server, args.idle)
            before_burst = {pid: sample(pid) for pid in pids}
            began = time.monotonic()
            peaks: dict[str, float] = {}
            watching = asyncio.create_task(_gauge_peaks(metrics, peaks)) if metrics is not None else None
            outcomes = await asyncio.gather(
                *(
                    start_rollout(client, _spec(sim, f"scale-{i}-{queue}", args.interval), queue)
                    for i in range(args.rollouts)
                ),
                return_exceptions=True,
            )
            handles = [h for h in outcomes if not isinstance(h, BaseException)]
            burst_seconds = time.monotonic() - began
            observing = await _all_observing(client, queue, len(handles), args.observe_timeout)
            burst_cpu = {pid: sample(pid).cpu_seconds - before_burst[pid].cpu_seconds for pid in pids}
            burst_wall = time.monotonic() - began
            worker_metrics = await _worker_metrics(metrics) if metrics is not None else {}
            if watching is not None:
                watching.cancel()
                worker_metrics.update({f"peak {k}": v for k, v in peaks.items()})
            await asyncio.sleep(args.warmup)  # every rollout into its analysis cadence before the window opens
            warmed_seconds = time.monotonic() - began
            since = datetime.now(UTC).replace(tzinfo=None)
            first = {pid: sample(pid) for pid in pids}
            server_cpu, server_written = server.cpu_seconds(), server.written_bytes()
            db_before = server.database_writes()
            peak = {pid: first[pid].rss_bytes for pid in pids}
            window_start = time.monotonic()
            while time.monotonic() - window_start < args.window:
                await asyncio.sleep(1.0)
                for pid in pids:
                    peak[pid] = max(peak[pid], sample(pid).rss_bytes)
            last: dict[int, ProcessSample] = {pid: sample(pid) for pid in pids}
            server_cpu = server.cpu_seconds() - server_cpu
            server_written = server.written_bytes() - server_written
            db_after = server.database_writes()
            elapsed = time.monotonic() - window_start
            until = datetime.now(UTC).replace(tzinfo=None)

            restarted_at: datetime | None = None
            run_lengths: list[int] = []
            early_aborted: list[Any] = []
            early_answers: list[float] = []
            if args.restart:  # every worker killed (no goodbye) and replaced: caches empty, all histories replay
                if args.restart_at_events:
                    await _runs_reach(handles, args.restart_at_events, args.observe_timeout)
                run_lengths = await _run_lengths(handles)
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                # The operator's reaction to the incident: aborts sent while no worker runs, answered after.
                early_aborted = handles[: args.restart_aborts]
                await asyncio.gather(
                    *(h.signal("abort", {"by": "bench", "reason": "during the restart"}) for h in early_aborted),
                    return_exceptions=True,
                )
                restarted_at = datetime.now(UTC).replace(tzinfo=None)
                for i in range(args.workers):
                    log = folder / f"worker-{i}-restarted.log"
                    await stack.enter_async_context(worker_process(server.address, queue, log, env))
                early_answers = await _closed_after(early_aborted, restarted_at, args.observe_timeout)
                await asyncio.sleep(args.interval + 10)  # one full analysis round, and some, before the aborts
            abort_began = time.monotonic()
            await asyncio.gather(
                *(h.signal("abort", {"by": "bench", "reason": "end of window"}) for h in handles[len(early_aborted) :]),
                return_exceptions=True,
            )
            waiting = asyncio.Semaphore(RESULT_WAITS)

            async def result(handle: Any) -> Any:
                async with waiting:
                    return await handle.result()

            ended = await asyncio.gather(*(result(h) for h in handles), return_exceptions=True)
            aborts_answered_seconds = time.monotonic() - abort_began
            lags: list[float] = []
            lag_points: list[tuple[str, float, str]] = []
            failures = started = events = event_bytes = actions = 0
            run_events: list[int] = []
            failure_causes: Counter[str] = Counter()
            carried_bytes: list[int] = []
            first_again: dict[str, float] = {}
            """Per rollout: a run that continued as new after the restart analyses later than the one before it."""
            paths: list[BurstPath] = []
            lease_failures: Counter[str] = Counter()
            leases = await _all_histories(client, [lease_id(f"scale-{i}-{queue}") for i in range(args.rollouts)])
            for history in (h for runs in leases for h in runs):
                lease_failures.update(task_failure_causes(history))
            rollout_runs = await _all_histories(client, [h.id for h in handles])
            for handle, runs in zip(handles, rollout_runs, strict=True):
                for history in runs:
                    if not history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id:
                        paths.append(burst_path(history))
                    if args.dump and handle is handles[0]:
                        Path(args.dump).write_text(history.to_json())
                    points = analysis_lag_points(history, since, until)
                    lags += [lag for _, lag in points]
                    lag_points += [(due.isoformat(), lag, handle.id) for due, lag in points]
                    failed = task_failures(history)
                    if args.dump_late and (failed or any(lag > LATE_SECONDS for _, lag in points)):
                        began_at = history.events[0].event_time.seconds
                        late = Path(args.dump_late) / f"{history.workflow_id}-{began_at}.json"
                        late.parent.mkdir(parents=True, exist_ok=True)
                        late.write_text(history.to_json())
                    started += analyses_started(history, since, until)
                    window = window_events(history, since, until)
                    events, event_bytes = events + window[0], event_bytes + window[1]
                    actions += billed_actions(history, since, until)
                    run_events.append(len(history.events))
                    first_event = history.events[0].workflow_execution_started_event_attributes
                    if first_event.continued_execution_run_id:
                        carried_bytes.append(history.events[0].ByteSize())
                    if restarted_at is not None and handle not in early_aborted:
                        again = first_analysis_after(history, restarted_at)
                        if again is not None:  # the rollout's first analysis, whichever of its runs made it
                            first_again[handle.id] = min(again, first_again.get(handle.id, again))
                    failures += failed
                    failure_causes.update(task_failure_causes(history))
    if args.lags:
        Path(args.lags).write_text("".join(json.dumps(point) + "\n" for point in sorted(lag_points)))
    reanalysed = list(first_again.values())
    expected = args.rollouts * elapsed / args.interval
    worker_cpu = sum(last[p].cpu_seconds - first[p].cpu_seconds for p in pids)
    per = max(started, 1)
    rollout_minutes = args.rollouts * elapsed / 60
    # The server's own idle work (shard leases, membership, queue metadata) is not the rollouts' cost.
    net_server_cpu = server_cpu - idle.cpu_per_s * elapsed
    db = (
        {"db_transactions": None, "db_rows_changed": None, "db_wal_bytes": None}
        if db_before is None or db_after is None
        else {
            "db_transactions": round((db_after[0] - db_before[0] - idle.commits_per_s * elapsed) / per, 2),
            "db_rows_changed": round((db_after[1] - db_before[1] - idle.rows_per_s * elapsed) / per, 2),
            "db_wal_bytes": round((db_after[2] - db_before[2] - idle.wal_per_s * elapsed) / per),
        }
    )
    return {
        "server": args.server
        + (" (sqlite wal)" if args.server == "dev" and args.sqlite_wal else "")
        + (" (in memory)" if args.server == "dev" and args.dev_memory else ""),
        "workers": args.workers,
        "cache": args.cache or "default",
        "activity_slots": args.activities or "default",
        "rollouts": args.rollouts,
        "interval_s": args.interval,
        "analyses_per_s_asked": round(args.rollouts / args.interval, 2),
        "analyses_per_s_done": round(started / elapsed, 2),
        "analyses_timed": len(lags),
        "analyses_due_in_window": round(expected),
        "lag_p50_s": round(percentile(lags, 0.5), 3),
        "lag_p99_s": round(percentile(lags, 0.99), 3),
        "lag_max_s": round(max(lags, default=float("nan")), 3),
        "start_failures": len(outcomes) - len(handles),
        "burst_seconds": round(burst_seconds, 2),
        "observing_at_window": observing,
        "observing_after_s": round(warmed_seconds - args.warmup, 1),
        "workflow_task_failures": failures,
        "workflow_task_failure_causes": dict(failure_causes.most_common(5)),
        "lease_workflow_task_failures": sum(lease_failures.values()),
        "lease_workflow_task_failure_causes": dict(lease_failures.most_common(5)),
        "burst": {
            **asdict(summarise(paths)),
            "worker_cpu_percent": [round(100 * burst_cpu[p] / burst_wall) for p in pids],
            "worker_metrics": worker_metrics,
        },
        "worker_rss_peak_mb": [round(peak[p] / 2**20) for p in pids],
        "worker_cpu_percent": [round(100 * (last[p].cpu_seconds - first[p].cpu_seconds) / elapsed) for p in pids],
        "server_cpu_percent": round(100 * server_cpu / elapsed),
        "server_idle": {
            "cpu_percent": round(100 * idle.cpu_per_s, 1),
            "db_transactions_per_s": round(idle.commits_per_s, 1),
            "db_rows_changed_per_s": round(idle.rows_per_s, 1),
            "db_wal_bytes_per_s": round(idle.wal_per_s),
        },
        "runs": {
            "read": len(run_events),
            "events_max": max(run_events, default=0),
            "continued": len(carried_bytes),
            "continued_first_event_bytes_p50": round(percentile([float(b) for b in carried_bytes], 0.5))
            if carried_bytes
            else None,
        },
        "per_rollout_minute": {
            "worker_cpu_ms": round(1000 * worker_cpu / rollout_minutes, 2),
            "server_cpu_ms": round(1000 * net_server_cpu / rollout_minutes, 2),
        },
        "per_analysis": None
        if started == 0
        else {
            "events": round(events / per, 2),
            "history_bytes": round(event_bytes / per),
            "cloud_actions_in_history": round(actions / per, 2),
            "worker_cpu_ms": round(1000 * worker_cpu / per, 2),
            "server_cpu_ms": round(1000 * net_server_cpu / per, 2),
            "server_written_bytes": round((server_written - idle.written_per_s * elapsed) / per),
            **db,
        },
        "aborts_answered_s": round(aborts_answered_seconds, 2),
        "restart": args.restart,
        "reanalysed_after_restart": len(reanalysed) if args.restart else None,
        "reanalysed_p50_s": round(percentile(reanalysed, 0.5), 2) if args.restart else None,
        "reanalysed_max_s": round(max(reanalysed, default=float("nan")), 2) if args.restart else None,
        "restart_run_events": {
            "p50": round(percentile([float(n) for n in run_lengths], 0.5)),
            "min": min(run_lengths),
            "max": max(run_lengths),
        }
        if run_lengths
        else None,
        "restart_aborts": len(early_aborted),
        "restart_aborts_answered": len(early_answers),
        "restart_abort_answer_p50_s": round(percentile(early_answers, 0.5), 2) if early_answers else None,
        "restart_abort_answer_max_s": round(max(early_answers), 2) if early_answers else None,
        "rollouts_not_rolled_back": sum(
            1 for r in ended if isinstance(r, BaseException) or r.record.outcome != "rolled_back"
        ),
        "loadavg_1m_at_end": os.getloadavg()[0],
    }


@dataclass(frozen=True)
class IdleRates:
    """What the server costs per second with no rollout running: subtracted from the per-analysis figures."""

    cpu_per_s: float
    written_per_s: float
    commits_per_s: float
    rows_per_s: float
    wal_per_s: float


async def _idle_rates(server: Server, seconds: float) -> IdleRates:
    cpu, written, db = server.cpu_seconds(), server.written_bytes(), server.database_writes()
    began = time.monotonic()
    await asyncio.sleep(seconds)  # a measurement window, not a wait for a condition
    elapsed = time.monotonic() - began
    db_after = server.database_writes()
    commits, rows, wal = (
        (0.0, 0.0, 0.0)
        if db is None or db_after is None
        else (db_after[0] - db[0], db_after[1] - db[1], db_after[2] - db[2])
    )
    return IdleRates(
        cpu_per_s=(server.cpu_seconds() - cpu) / elapsed,
        written_per_s=(server.written_bytes() - written) / elapsed,
        commits_per_s=commits / elapsed,
        rows_per_s=rows / elapsed,
        wal_per_s=wal / elapsed,
    )


async def _run_lengths(handles: list[Any]) -> list[int]:
    """Each rollout's current run's history length, from the server (a describe is no workflow task)."""
    waiting = asyncio.Semaphore(RESULT_WAITS)

    async def length(handle: Any) -> int:
        async with waiting:
            described = await handle.describe()
            return int(described.raw_description.workflow_execution_info.history_length)

    found = await asyncio.gather(*(length(h) for h in handles), return_exceptions=True)
    return [n for n in found if isinstance(n, int)]


async def _runs_reach(handles: list[Any], events: int, timeout: float) -> None:
    """Wait until half of a sample of the rollouts' current runs have ``events`` events or more.

    The restart's worst case is every run at its longest, just before it continues as new: that is what a
    restarted worker replays. Rollouts started in one burst at one interval stay close in phase, so the median
    of a sample says when most of them are there. Gives up after ``timeout`` seconds.
    """
    sample_of = handles[:: max(1, len(handles) // 50)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lengths = sorted(await _run_lengths(sample_of))
        if lengths and lengths[len(lengths) // 2] >= events:
            return
        await asyncio.sleep(1.0)


async def _closed_after(handles: list[Any], moment: datetime, timeout: float) -> list[float]:
    """Seconds from ``moment`` (the new worker's start) to each rollout's close, for those that closed in time."""
    waiting = asyncio.Semaphore(RESULT_WAITS)

    async def closed(handle: Any) -> float:
        async with waiting:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(handle.result(), timeout)
            close = (await handle.describe()).close_time
            if close is None:
                raise TimeoutError(handle.id)
            return float((close.replace(tzinfo=None) - moment).total_seconds())

    found = await asyncio.gather(*(closed(h) for h in handles), return_exceptions=True)
    return [seconds for seconds in found if isinstance(seconds, float)]


async def _all_observing(client: Any, queue: str, expected: int, timeout: float) -> int:
    """Wait until every rollout has moved its traffic to the step (past its lease, preflight and first move).

    Counted in the server's visibility store (the weight search attribute), not by querying each rollout: a query
    is a workflow task, and a thousand of them a second took the worker's slots and CPU from the very rollouts
    they measured. The burst's figures come from the histories afterwards; this only says when to go on.
    Gives up after ``timeout`` seconds (a saturated server may never get there); returns how many did.
    """
    deadline = time.monotonic() + timeout
    at_weight = f'TaskQueue = "{queue}" AND WorkflowType = "Rollout" AND {search_attributes.WEIGHT.name} = 10'
    while True:
        try:
            done = (await client.count_workflows(at_weight)).count
        except Exception:
            done = 0
        if done >= expected or time.monotonic() > deadline:
            return int(done)
        await asyncio.sleep(1.0)


async def _gauge_peaks(bind: str, peaks: dict[str, float]) -> None:
    """Every 2 s until cancelled: the highest slots in use and pollers open during the burst."""
    while True:
        try:
            for key, value in (await _worker_metrics(bind)).items():
                if key.startswith(("temporal_worker_task_slots_used", "temporal_num_pollers")):
                    peaks[key] = max(peaks.get(key, 0.0), value)
        except Exception:  # a missed sample while the worker is busy is not a result
            pass
        await asyncio.sleep(2.0)


async def _worker_metrics(bind: str) -> dict[str, float]:
    """The SDK's workflow-task figures from the worker's Prometheus endpoint: counts, sums and slot gauges."""
    import httpx

    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://{bind}/metrics", timeout=10)).text
    wanted = (
        "temporal_workflow_task_schedule_to_start_latency_sum",
        "temporal_workflow_task_schedule_to_start_latency_count",
        "temporal_workflow_task_execution_latency_sum",
        "temporal_workflow_task_execution_latency_count",
        "temporal_workflow_task_replay_latency_sum",
        "temporal_workflow_task_replay_latency_count",
        "temporal_sticky_cache_miss_total",
        "temporal_workflow_task_execution_failed_total",
        "temporal_activity_schedule_to_start_latency_sum",
        "temporal_activity_schedule_to_start_latency_count",
        "temporal_num_pollers",
        "temporal_worker_task_slots_used",
        "temporal_worker_task_slots_available",
    )
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, labels = line.partition("{")
        name = name.split(" ", 1)[0]
        if name not in wanted:
            continue
        # Gauges per kind (sticky or not, workflow or activity) on the rollouts' queue; sums over the rest.
        kind = re.search(r'(?:poller_type|worker_type)="([^"]+)"', labels)
        watchers = "lease-watchers" in labels
        if watchers or (kind and kind.group(1) == "LocalActivityWorker"):
            continue
        key = f"{name}:{kind.group(1)}" if kind else name
        found[key] = found.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return {k: round(v, 3) for k, v in sorted(found.items())}


async def _all_histories(client: Any, workflow_ids: list[str]) -> list[list[Any]]:
    """Every run of each workflow id, read 20 at a time (one by one, 2,000 histories took minutes)."""
    limit = asyncio.Semaphore(20)

    async def runs(workflow_id: str) -> list[Any]:
        async with limit:
            return [history async for history in _histories(client, workflow_id)]

    return list(await asyncio.gather(*(runs(w) for w in workflow_ids)))


async def _histories(client: Any, workflow_id: str) -> AsyncIterator[Any]:
    """Every run of one workflow id (continue-as-new keeps the id)."""
    async for execution in client.list_workflows(f'WorkflowId = "{workflow_id}"'):
        yield await client.get_workflow_handle(workflow_id, run_id=execution.run_id).fetch_history()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["dev", "cluster"], default="dev")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rollouts", type=int, default=100)
    parser.add_argument("--interval", type=_seconds, default=_seconds("30s"))
    parser.add_argument("--window", type=float, default=60.0, help="seconds of steady load measured")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle server measured first")
    parser.add_argument("--observe-timeout", type=float, default=180.0, help="longest wait for every rollout's step")
    parser.add_argument("--cache", type=int, default=0, help="WORKER_MAX_CACHED_WORKFLOWS (0: the worker's default)")
    parser.add_argument("--restart", action="store_true", help="after the window, SIGKILL and replace every worker")
    parser.add_argument(
        "--restart-at-events",
        type=int,
        default=0,
        help="with --restart: first wait until the median current run has this many events (runs at their longest)",
    )
    parser.add_argument(
        "--restart-aborts",
        type=int,
        default=0,
        help="with --restart: abort this many rollouts while no worker runs; time each answer from the new start",
    )
    parser.add_argument("--dump", help="write the first rollout's history (JSON) to this file")
    parser.add_argument("--lags", help="write every analysis's due time, lag and rollout (JSON lines) to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the server's and workers' logs (path on stderr)")
    parser.add_argument(
        "--dump-late",
        help=f"write every run with an analysis over {LATE_SECONDS:g} s late, or a failed workflow task, here",
    )
    parser.add_argument("--activities", type=int, default=0, help="WORKER_MAX_CONCURRENT_ACTIVITIES (0: default)")
    parser.add_argument(
        "--dev-memory", action="store_true", help="dev server: its database in memory, not in a file (nothing kept)"
    )
    parser.add_argument("--sqlite-wal", action="store_true", help="dev server: journal_mode=wal, synchronous=normal")
    parser.add_argument(
        "--worker-env",
        type=_env_pair,
        action="append",
        default=[],
        help="NAME=VALUE for every worker process, e.g. WORKER_ROLLOUTS=1000 (repeatable)",
    )
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
