"""Deploy windows and freezes: the pure decision (workflows/windows.py) and the policy model's refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from models.windows import DeployWindows
from workflows.windows import Closed, Open, check, is_open, next_open, waiting_line, windows_for

EARLY_WEEK = DeployWindows.model_validate(
    {"timezone": "Europe/Paris", "allowed": [{"days": ["mon", "tue", "wed", "thu"], "start": "09:00", "end": "17:00"}]}
)
"""The seeds' rule: early in the week, office hours, never on a Friday."""


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_open_inside_the_window_in_its_time_zone() -> None:
    # Tuesday 2026-12-01 09:30 in Paris is 08:30 UTC.
    assert isinstance(check(EARLY_WEEK, utc(2026, 12, 1, 8, 30)), Open)
    assert isinstance(check(EARLY_WEEK, utc(2026, 12, 1, 7, 59)), Closed)  # 08:59 in Paris


def test_friday_waits_for_monday_morning() -> None:
    friday = utc(2026, 12, 4, 10, 0)
    verdict = check(EARLY_WEEK, friday)
    assert isinstance(verdict, Closed)
    assert verdict.opens_at == utc(2026, 12, 7, 8, 0)  # Monday 09:00 Paris
    assert "outside the deploy windows" in verdict.reason
    assert "opens at 2026-12-07 08:00 UTC" in waiting_line(verdict)


def test_end_is_exclusive() -> None:
    assert not is_open(EARLY_WEEK, utc(2026, 12, 1, 16, 0))  # 17:00 Paris
    assert is_open(EARLY_WEEK, utc(2026, 12, 1, 15, 59))


def test_daylight_saving_time_moves_the_utc_hour() -> None:
    # In July Paris is UTC+2: 09:00 local is 07:00 UTC.
    assert is_open(EARLY_WEEK, utc(2026, 7, 7, 7, 0))
    assert not is_open(EARLY_WEEK, utc(2026, 12, 8, 7, 0))


def test_a_freeze_closes_an_open_window_and_names_its_reason() -> None:
    windows = EARLY_WEEK.model_copy(
        update={
            "freezes": DeployWindows.model_validate(
                {
                    "freezes": [
                        {"start": "2026-12-01T00:00:00+01:00", "end": "2026-12-03T12:00:00+01:00", "reason": "launch"}
                    ]
                }
            ).freezes
        }
    )
    verdict = check(windows, utc(2026, 12, 1, 10, 0))
    assert isinstance(verdict, Closed) and verdict.freeze is not None
    assert "launch" in verdict.reason
    # The freeze ends Thursday 12:00 Paris, inside Thursday's window: it opens then, not Friday.
    assert verdict.opens_at == utc(2026, 12, 3, 11, 0)


def test_freezes_alone_without_weekly_windows() -> None:
    windows = DeployWindows.model_validate(
        {"freezes": [{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", "reason": "holidays"}]}
    )
    assert is_open(windows, utc(2026, 12, 19, 23, 59))
    verdict = check(windows, utc(2026, 12, 25))
    assert isinstance(verdict, Closed) and verdict.opens_at == utc(2027, 1, 4)


def test_chained_freezes_open_at_the_first_free_window() -> None:
    windows = DeployWindows.model_validate(
        {
            "allowed": [{"days": ["mon"], "start": "10:00", "end": "11:00"}],
            "freezes": [
                {"start": "2026-12-07T00:00:00Z", "end": "2026-12-08T00:00:00Z", "reason": "a"},
                {"start": "2026-12-08T00:00:00Z", "end": "2026-12-15T00:00:00Z", "reason": "b"},
            ],
        }
    )
    assert next_open(windows, utc(2026, 12, 7, 10, 30)) == utc(2026, 12, 21, 10, 0)


def test_windows_for_a_target_then_the_wildcard() -> None:
    everywhere = DeployWindows()
    policy = {"*": everywhere, "production": EARLY_WEEK}
    assert windows_for(policy, "production") is EARLY_WEEK
    assert windows_for(policy, "staging") is everywhere
    assert windows_for({}, "staging") is None
    assert isinstance(check(None, utc(2026, 12, 4)), Open)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"allowed": [{"days": ["fri"], "start": "17:00", "end": "09:00"}]}, "end"),
        ({"allowed": [{"days": ["fry"]}]}, "days"),
        ({"allowed": [{"days": ["mon"], "start": "9am"}]}, "start"),
        ({"freezes": [{"start": "2026-12-20T00:00:00", "end": "2026-12-21T00:00:00Z", "reason": "x"}]}, "offset"),
        ({"freezes": [{"start": "2026-12-21T00:00:00Z", "end": "2026-12-20T00:00:00Z", "reason": "x"}]}, "end"),
        ({"allowed": [{"days": ["mon"]}] * 15}, "allowed"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        DeployWindows.model_validate(document)
    assert field in str(refused.value)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_next_open_is_open_and_nothing_earlier_is(now: datetime) -> None:
    opens = next_open(EARLY_WEEK, now)
    assert opens is not None and opens >= now and is_open(EARLY_WEEK, opens)
    # No open minute between now and then (windows start on whole minutes).
    probe = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while probe < opens and probe < now + timedelta(days=8):
        assert not is_open(EARLY_WEEK, probe) or probe >= opens
        probe += timedelta(minutes=37)
