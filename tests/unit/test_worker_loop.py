"""The worker's event loop and its log volume: uvloop unless asked otherwise, httpx's request lines only at DEBUG."""

from __future__ import annotations

import asyncio
import logging
import sys

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


class _CountingFinder:
    """A meta-path finder that only counts the imports that reached the finders (a module not yet loaded)."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.searched.append(name)


def test_an_http_request_imports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore asks which async library runs at every request by importing sniffio; without it installed the
    failed import searched sys.path every time (2.4% of a busy worker's samples). Installed, it is a lookup."""
    from httpcore._synchronization import current_async_library

    async def ask() -> str:
        return current_async_library()

    assert asyncio.run(ask()) == "asyncio"  # first call: sniffio may load here
    finder = _CountingFinder()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    assert asyncio.run(ask()) == "asyncio"
    assert finder.searched == []
