"""``python -m workers``: serve the ``rollouts`` task queue until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable

import structlog

from workers.build import build_worker
from workers.client import connect
from workers.logging import configure_logging
from workers.registry import open_activities, registered_workflows
from workers.settings import Settings, SettingsError
from workers.telemetry import prometheus_runtime
from workers.tracing import configure_tracing
from workers.tuning import WorkerTuning
from workers.upgrade_check import NamespaceNotReady, check_namespace

log = structlog.get_logger("workers")


async def serve(settings: Settings, tuning: WorkerTuning | None = None) -> None:
    """Run one worker; on a stop signal, stop polling and let running activities finish within the grace period."""
    tuning = tuning or WorkerTuning()
    provider = configure_tracing()
    runtime = prometheus_runtime(tuning.metrics_bind) if tuning.metrics_bind else None
    client = await connect(settings, runtime=runtime)
    await check_namespace(client, settings.namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_activities(
        client, settings.task_queue, policy_path=settings.policy_path, lab_mode=settings.lab_mode
    ) as activities:
        worker = build_worker(
            client,
            task_queue=settings.task_queue,
            workflows=registered_workflows(),
            activities=activities,
            graceful_shutdown=settings.graceful_shutdown,
            tuning=tuning,
        )
        async with worker:
            log.info(
                "worker started",
                address=settings.address,
                namespace=settings.namespace,
                task_queue=settings.task_queue,
                tls=settings.tls,
                metrics=tuning.metrics_bind,
                max_cached_workflows=tuning.max_cached_workflows,
            )
            if tuning.ready_file is not None:
                tuning.ready_file.write_text("polling\n")
            await stop.wait()
            if tuning.ready_file is not None:
                tuning.ready_file.unlink(missing_ok=True)
            log.info("stop requested: draining", grace_seconds=settings.graceful_shutdown.total_seconds())
    log.info("worker stopped")
    if provider is not None:
        provider.shutdown()


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The worker's event loop: uvloop's, unless ``WORKER_EVENT_LOOP=asyncio``.

    The SDK's activities, polls and client calls all run on this loop: in a profile of a burst of 1,000 starts,
    asyncio's own code held 15% of the worker's samples (ADR 46). Workflow code does not run on it: each workflow
    run has the SDK's deterministic loop.
    """
    if os.environ.get("WORKER_EVENT_LOOP", "uvloop") == "asyncio":
        return None
    import uvloop

    return uvloop.new_event_loop


def main() -> int:
    """Run the worker and say how it ended in the exit code.

    2 for bad settings (nothing started), 3 for a namespace that lacks our search attributes (nothing polled),
    1 when it cannot run, 0 after a drain.
    """
    try:
        settings = Settings.from_env()
        tuning = WorkerTuning.from_env()
    except SettingsError as exc:
        print(f"workers: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve(settings, tuning))
    except NamespaceNotReady as exc:  # refuse before polling: no running rollout's task is touched
        log.error("worker refused to start", error=str(exc))
        print(f"workers: {exc}", file=sys.stderr)
        # The SDK's runtime threads are still up: a normal interpreter teardown can abort on them
        # ("PyGILState_Release"), turning a clear refusal into a crash. Nothing is left to flush or close.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(3)
    except RuntimeError as exc:  # connection refused and similar: say it plainly
        log.error("worker failed", error=str(exc))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
