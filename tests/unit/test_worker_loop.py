"""The worker's event loop and its log volume: uvloop unless asked otherwise, httpx's request lines only at DEBUG."""

from __future__ import annotations

import asyncio
import logging

import pytest
import uvloop

from workers.__main__ import event_loop_factory
from workers.logging import configure_logging


def test_the_worker_runs_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``WORKER_EVENT_LOOP`` the worker's loop is uvloop's, and it runs a coroutine."""
    monkeypatch.delenv("WORKER_EVENT_LOOP", raising=False)
    factory = event_loop_factory()
    assert factory is not None
    with asyncio.Runner(loop_factory=factory) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, uvloop.Loop)
        assert runner.run(asyncio.sleep(0, result="ran")) == "ran"


def test_asyncio_s_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """``WORKER_EVENT_LOOP=asyncio`` keeps the standard library's loop (``asyncio.Runner``'s default)."""
    monkeypatch.setenv("WORKER_EVENT_LOOP", "asyncio")
    assert event_loop_factory() is None


@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("WARNING", False), ("DEBUG", True)])
def test_httpx_request_lines_only_at_debug(level: str, shown: bool) -> None:
    """At INFO the per-request lines of httpx are dropped; at DEBUG they come back."""
    try:
        configure_logging(level)
        assert logging.getLogger("httpx").isEnabledFor(logging.INFO) is shown
        assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    finally:
        configure_logging("WARNING")  # as the suite's conftest leaves it
