"""Deploy windows and freezes: when the operators let a rollout move traffic forward, per service and target.

Part of the operators' policy (``ServicePolicy.deploy_windows``, keyed by target name or ``*``), never of a spec:
a requester cannot widen the hours their own change may ship in. A window is a set of weekdays and a span of
local hours in an IANA time zone ("deploy early in the week, never on a Friday"); a freeze is a date range with a
reason (a launch, the holidays). Only forward moves wait for an open window (``workflows/windows.py`` decides);
a rollback or an abort never waits.

Pure models, no I/O beyond the time zone database that ``zoneinfo`` reads once per zone.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_WINDOWS = 14
"""Weekly windows per target: two a day is already more than a team's calendar needs."""
MAX_FREEZES = 100
"""Freezes per target: years of holidays and launches."""
MAX_REASON_CHARS = 200
ALL_TARGETS = "*"
"""Key of ``deploy_windows`` that applies to every target without an entry of its own."""

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name[:64]!r} (an IANA name such as Europe/Paris, or UTC)") from None
    return name


def _clock(text: str) -> str:
    if not _CLOCK.match(text):
        raise ValueError(f"{text[:16]!r} is not a time of day HH:MM (00:00 to 24:00)")
    return text


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a freeze's instant needs its offset (2026-12-20T00:00:00+01:00 or ...Z)")
    return at


Clock = Annotated[str, AfterValidator(_clock)]
Instant = Annotated[datetime, Field(strict=False), AfterValidator(_aware)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class WeeklyWindow(_Model):
    """Local hours on some weekdays during which forward moves may start."""

    days: list[Weekday] = Field(min_length=1, max_length=7, description='Weekdays the window is open: "mon" ... "sun".')
    start: Clock = Field(default="00:00", description="Local time the window opens, HH:MM.")
    end: Clock = Field(default="24:00", description="Local time the window closes, HH:MM (24:00: midnight).")

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyWindow:
        if self.end <= self.start:
            raise ValueError(f"end: {self.end} is not after start {self.start} (a window stays within one day)")
        return self


class Freeze(_Model):
    """A date range in which nothing moves forward, whatever the weekly windows say, unless a person overrides."""

    start: Instant = Field(description="When the freeze begins, ISO 8601 with its offset.")
    end: Instant = Field(description="When it ends (exclusive), ISO 8601 with its offset.")
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON_CHARS)] = Field(
        description="Why, as people waiting for it read it (status, Current Details, the record)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        if self.end <= self.start:
            raise ValueError("end: not after start")
        return self


class DeployWindows(_Model):
    """When forward moves on one target may start: weekly windows in a time zone, minus freezes."""

    timezone: Annotated[str, Field(max_length=64), AfterValidator(_zone)] = Field(
        default="UTC", description="IANA time zone the windows' hours are in (Europe/Paris, America/New_York)."
    )
    allowed: list[WeeklyWindow] = Field(
        default_factory=list,
        max_length=MAX_WINDOWS,
        description="Weekly windows; a forward move outside all of them waits for the next. Empty: any time "
        "outside a freeze.",
    )
    freezes: list[Freeze] = Field(
        default_factory=list, max_length=MAX_FREEZES, description="Date ranges in which nothing moves forward."
    )
    overridable: bool = Field(
        default=True,
        description="A signed promote by an overrider moves a waiting step on anyway (recorded as an override); "
        "false: only the clock opens the window.",
    )
