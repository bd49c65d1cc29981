"""May a forward move start now? Deploy windows and freezes, decided from the policy and a moment (pure).

The workflow passes ``workflow.now()``; nothing here reads a clock. ``check`` says open, or closed with why and
when the next window opens, so the rollout can wait for exactly that moment on a durable timer and say so in its
status. Only forward moves ask: rollback and abort never wait for a window.

The next opening is the first moment, at or after now, that is in a weekly window and outside every freeze. Such
a moment is always either now, the start of a weekly window, or the end of a freeze; so the search looks at those
candidates only, a week past each freeze's end (a bounded number, at most 101 x 8 x 14).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from models.windows import ALL_TARGETS, WEEKDAYS, DeployWindows, Freeze, WeeklyWindow

SEARCH_DAYS = 8
"""Days looked ahead of each candidate base: a weekly window recurs within 7."""


@dataclass(frozen=True)
class Open:
    """The move may start now."""


@dataclass(frozen=True)
class Closed:
    """The move waits: ``reason`` in words, ``opens_at`` (UTC) when it may start, None if no window ever opens."""

    reason: str
    opens_at: datetime | None
    freeze: Freeze | None = None


def windows_for(deploy_windows: dict[str, DeployWindows], target: str | None) -> DeployWindows | None:
    """The windows governing ``target``: its own entry, else the ``*`` entry, else none (always open)."""
    if target is not None and target in deploy_windows:
        return deploy_windows[target]
    return deploy_windows.get(ALL_TARGETS)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _in_window(window: WeeklyWindow, local: datetime) -> bool:
    if WEEKDAYS[local.weekday()] not in window.days:
        return False
    minute = local.hour * 60 + local.minute
    return _minutes(window.start) <= minute < _minutes(window.end)


def _freeze_at(windows: DeployWindows, at: datetime) -> Freeze | None:
    return next((f for f in windows.freezes if f.start <= at < f.end), None)


def is_open(windows: DeployWindows, at: datetime) -> bool:
    """Whether ``at`` (aware) is inside a weekly window (or there are none) and outside every freeze."""
    if _freeze_at(windows, at) is not None:
        return False
    if not windows.allowed:
        return True
    local = at.astimezone(ZoneInfo(windows.timezone))
    return any(_in_window(w, local) for w in windows.allowed)


def _window_starts(windows: DeployWindows, base: datetime) -> list[datetime]:
    """Start instants of every weekly window in the ``SEARCH_DAYS`` days from ``base``'s local date."""
    zone = ZoneInfo(windows.timezone)
    first: date = base.astimezone(zone).date()
    starts: list[datetime] = []
    for offset in range(SEARCH_DAYS):
        day = first + timedelta(days=offset)
        for window in windows.allowed:
            if WEEKDAYS[day.weekday()] in window.days:
                minute = _minutes(window.start)
                local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
                starts.append(local.astimezone(base.tzinfo))
    return starts


def next_open(windows: DeployWindows, now: datetime) -> datetime | None:
    """The first moment at or after ``now`` when a forward move may start; None if none is in reach."""
    bases = [now, *(f.end for f in windows.freezes if f.end > now)]
    candidates = set(bases)
    if windows.allowed:
        for base in bases:
            candidates.update(_window_starts(windows, base))
    return next((at for at in sorted(candidates) if at >= now and is_open(windows, at)), None)


def check(windows: DeployWindows | None, now: datetime) -> Open | Closed:
    """Open now, or closed with why and when it opens (``now`` aware, from ``workflow.now()``)."""
    if windows is None or is_open(windows, now):
        return Open()
    opens_at = next_open(windows, now)
    freeze = _freeze_at(windows, now)
    if freeze is not None:
        reason = f"freeze until {freeze.end.astimezone(now.tzinfo):%Y-%m-%d %H:%M} UTC: {freeze.reason}"
    else:
        spans = "; ".join(f"{','.join(w.days)} {w.start}-{w.end}" for w in windows.allowed)
        reason = f"outside the deploy windows ({spans} {windows.timezone})"
    return Closed(reason=reason, opens_at=opens_at, freeze=freeze)


def waiting_line(closed: Closed) -> str:
    """How status and Current Details say it: ``waiting for the window that opens at ...``."""
    when = "no window opens within reach" if closed.opens_at is None else f"{closed.opens_at:%Y-%m-%d %H:%M} UTC"
    if closed.opens_at is None:
        return f"waiting: {when} ({closed.reason})"
    return f"waiting for the window that opens at {when} ({closed.reason})"
