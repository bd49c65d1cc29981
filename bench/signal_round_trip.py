"""The baseline workflow of the latency benchmarks (its own module: the sandbox re-imports workflow modules)."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="SignalRoundTrip")
class SignalRoundTrip:
    """Waits for one signal, then completes: the least a signal can cost on this server."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)

    @workflow.signal
    def finish(self) -> None:
        self._done = True
