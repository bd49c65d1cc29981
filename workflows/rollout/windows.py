"""Before a forward move (a step's weight, the promotion): wait, durably, for the operators' deploy window.

The policy read at start (kept in the state) says when this target may move forward (``models/windows.py``);
``workflows/windows.py`` decides. Outside a window the rollout waits on a timer that ends when the next window
opens, with "waiting for the window that opens at ..." in status and Current Details. Meanwhile analyses of the
step already running go on (a failure still rolls back) and abort rolls back at once: rollback never waits. An
overrider's signed ``promote`` moves it on anyway when the windows are ``overridable``, recorded as an override.

Behind ``DEPLOY_WINDOWS_PATCH``, asked only when the policy has windows for the target, so rollouts under a
policy without windows (and every recorded history) run exactly as before.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.windows import DeployWindows
    from workflows.rollout.analysis import watch, woken
    from workflows.rollout.context import DONE_BEFORE_HANDOVER_PATCH, RolloutRun
    from workflows.windows import Closed, check, waiting_line, windows_for

DEPLOY_WINDOWS_PATCH = "deploy-windows"
"""Forward moves wait for the policy's deploy windows and freezes (issue 22)."""


def governing_windows(run: RolloutRun) -> DeployWindows | None:
    """The windows of the rollout's target in the policy it started with; None: any time."""
    s = run.state
    if s.policy is None or not s.policy.policy.deploy_windows:
        return None
    target = s.target.name if s.target is not None else run.spec.target
    return windows_for(s.policy.policy.deploy_windows, target)


async def await_window(run: RolloutRun, move: str) -> None:
    """Return when ``move`` may start: inside a window, or after a signed override; abort raises."""
    windows = governing_windows(run)
    if windows is None or not patched(DEPLOY_WINDOWS_PATCH):
        return
    s = run.state
    if s.window_override and s.window_wait is not None and patched(DONE_BEFORE_HANDOVER_PATCH):
        # The previous run took an overrider's promote for this move and handed over before acting on it.
        run.note("deploy window", f"{move}: overridden")
        s.window_wait, s.window_opens_at, s.window_override = None, None, False
        run.upsert()
        return
    verdict = check(windows, workflow.now())
    if not isinstance(verdict, Closed):
        return
    s.window_wait, s.window_opens_at, s.window_override = waiting_line(verdict), verdict.opens_at, False
    s.awaiting_decision = windows.overridable  # lets an overrider's signed promote mean something now
    run.note("deploy window", f"{move} {s.window_wait}")
    run.upsert()

    def open_or_overridden() -> bool:
        return s.window_override or not isinstance(check(windows, workflow.now()), Closed)

    def opens_at() -> datetime | None:
        current = check(windows, workflow.now())
        return current.opens_at if isinstance(current, Closed) else None

    summary = f"deploy window: {move} waits"
    try:
        # A step at a weight is running: keep analysing it while the next move waits (a shadow item moved none).
        if s.record.steps and s.record.steps[-1].kind != "shadow":
            await watch(run, len(s.record.steps) - 1, done=open_or_overridden, wake_at=opens_at, summary=summary)
        else:
            while not open_or_overridden():
                run.raise_if_aborted()
                wake = opens_at()
                timeout = None if wake is None else max(wake - workflow.now(), timedelta(0))
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        woken(run, open_or_overridden), timeout=timeout, timeout_summary=summary
                    )
            run.raise_if_aborted()
    finally:
        s.awaiting_decision = False
    how = "overridden" if s.window_override else "window open"
    run.note("deploy window", f"{move}: {how}")
    s.window_wait, s.window_opens_at, s.window_override = None, None, False
    run.upsert()
