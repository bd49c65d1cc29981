"""The worker's metrics, the SDK's and ours, scraped by the real Prometheus from a real worker process."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from simulator.procs import free_port
from simulator.prometheus_proc import run_prometheus
from simulator.testing import run_simulator
from tests.cluster.workers import worker_process
from tests.servers import DevServer
from tests.workflows.helpers import compressed_spec, start_rollout, unique_service, wait_for_status


async def _value(prometheus_query: list[dict[str, object]]) -> float:
    values = [float(sample["value"][1]) for sample in prometheus_query]  # type: ignore[index]
    return sum(values)


async def test_rollout_metrics_reach_prometheus(
    client: Client, temporal_dev: DevServer, task_queue: str, tmp_path: Path
) -> None:
    bind = f"127.0.0.1:{free_port()}"
    ready = tmp_path / "ready"
    env = {"WORKER_METRICS_BIND": bind, "WORKER_READY_FILE": str(ready)}
    async with (
        run_simulator(knobs={"rps": 200000}) as sim,
        worker_process(temporal_dev.address, task_queue, tmp_path / "worker.log", env),
    ):
        assert ready.exists(), "a polling worker says it is ready"
        healthy = await start_rollout(client, compressed_spec(sim, unique_service()), task_queue)
        aborted = await start_rollout(
            client, compressed_spec(sim, unique_service(), steps=[{"weight": 25, "observe": "1h"}]), task_queue
        )
        await wait_for_status(aborted, lambda st: st.weight == 25, what="step 1 at 25%")
        await aborted.signal("abort", {"by": "sre-oncall", "reason": "metrics test"})
        assert (await healthy.result()).record.outcome == "promoted"
        assert (await aborted.result()).record.outcome == "rolled_back"
        async with run_prometheus([f"http://{bind}"]) as prometheus:
            where = f'task_queue="{task_queue}"'
            started = await _value(await prometheus.query(f"rollouts_started_total{{{where}}}"))
            promoted = await _value(await prometheus.query(f'rollouts_finished_total{{{where},outcome="promoted"}}'))
            aborts = await _value(await prometheus.query(f'rollouts_rollbacks_total{{{where},cause="abort"}}'))
            rollback_seconds = await prometheus.query(f'rollouts_rollback_seconds_count{{{where},cause="abort"}}')
            analyses = await _value(await prometheus.query(f'rollouts_analyses_total{{{where},outcome="ok"}}'))
            to_stable = await _value(
                await prometheus.query(f'rollouts_router_moves_total{{{where},direction="to_stable"}}')
            )
            sdk_completed = await prometheus.query(f"temporal_workflow_completed_total{{{where}}}")
    assert not ready.exists(), "a stopped (drained) worker is no longer ready"
    assert (started, promoted, aborts) == (2.0, 1.0, 1.0)
    assert await _value(rollback_seconds) == 1.0
    assert analyses >= 2, "the healthy rollout analysed each of its two steps at least once"
    assert to_stable >= 1, "the abort put stable back at 100%"
    assert await _value(sdk_completed) >= 2, "the SDK's own metrics are exported too"
