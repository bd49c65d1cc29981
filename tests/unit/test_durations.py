"""models.durations: parsing the forms a person writes, and writing back the short canonical form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from models.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("  4h  ", timedelta(hours=4)),
        ("1.5h", timedelta(minutes=90)),
        ("0s", timedelta()),
        ("PT4H", timedelta(hours=4)),
        ("P2D", timedelta(days=2)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P1W", timedelta(weeks=1)),
        ("pt4h", timedelta(hours=4)),
    ],
)
def test_parse_accepted_strings(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [(90, timedelta(seconds=90)), (1.5, timedelta(seconds=1.5)), (0, timedelta()), (0.25, timedelta(milliseconds=250))],
)
def test_parse_numbers_are_seconds(number: float, expected: timedelta) -> None:
    assert parse_duration(number) == expected


def test_parse_timedelta_passes_through() -> None:
    value = timedelta(minutes=7)
    assert parse_duration(value) is value


@pytest.mark.parametrize(
    "bad",
    ["4x", "", "   ", "P", "PT", "h", "4", "4 hours", "-5s", "PT4X", "P1M", "1H", "s4", "4h-", "1m30", "P4H"],
)
def test_parse_rejects_malformed_strings(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a duration") as info:
        parse_duration(bad)
    assert '"90s"' in str(info.value)  # the message shows the accepted forms


@pytest.mark.parametrize("flag", [True, False])
def test_parse_rejects_booleans(flag: bool) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(flag)


@pytest.mark.parametrize("other", [None, [], {}, object(), b"4h"])
def test_parse_rejects_other_types(other: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(other)


@pytest.mark.parametrize("huge", [1e20, float("inf"), "99999999999d"])
def test_parse_out_of_range_raises_value_error(huge: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(huge)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=4), "4h"),
        (timedelta(days=2), "2d"),
        (timedelta(weeks=1), "7d"),
        (timedelta(hours=36), "1d12h"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(seconds=1, milliseconds=5), "1s5ms"),
        (timedelta(seconds=-90), "-1m30s"),
        (timedelta(microseconds=400), "0s"),
        (timedelta(microseconds=1600), "2ms"),
    ],
)
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("90s", "1m30s"),
        ("PT4H", "4h"),
        ("P2D", "2d"),
        ("PT0.5S", "500ms"),
        ("1w", "7d"),
        ("36h", "1d12h"),
        ("60m", "1h"),
    ],
)
def test_non_canonical_forms_are_written_back_short(written: str, canonical: str) -> None:
    assert format_duration(parse_duration(written)) == canonical


_MAX_MS = 10_000 * 86_400_000  # ten thousand days, well inside float precision at millisecond resolution


@given(st.integers(min_value=-_MAX_MS, max_value=_MAX_MS))
def test_format_then_parse_is_identity_at_millisecond_resolution(ms: int) -> None:
    value = timedelta(milliseconds=ms)
    text = format_duration(value)
    if ms >= 0:
        assert parse_duration(text) == value
    else:
        assert text.startswith("-")
        assert parse_duration(text[1:]) == -value


@st.composite
def canonical_strings(draw: st.DrawFn) -> str:
    parts = [
        (draw(st.integers(0, 9999)), "d"),
        (draw(st.integers(0, 23)), "h"),
        (draw(st.integers(0, 59)), "m"),
        (draw(st.integers(0, 59)), "s"),
        (draw(st.integers(0, 999)), "ms"),
    ]
    text = "".join(f"{n}{unit}" for n, unit in parts if n)
    return text or "0s"


@given(canonical_strings())
def test_canonical_strings_round_trip(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@given(st.lists(st.tuples(st.integers(0, 1000), st.sampled_from(sorted(_UNIT_MS))), min_size=1, max_size=5))
def test_short_form_parts_add_up(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    expected = timedelta(milliseconds=sum(n * _UNIT_MS[unit] for n, unit in parts))
    assert parse_duration(text) == expected


@given(st.integers(0, 1000), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_iso_matches_short_form(d: int, h: int, m: int, s: int) -> None:
    iso = f"P{d}DT{h}H{m}M{s}S"
    assert parse_duration(iso) == timedelta(days=d, hours=h, minutes=m, seconds=s)
    assert parse_duration(iso) == parse_duration(f"{d}d{h}h{m}m{s}s")


class _Window(BaseModel):
    window: Duration


def test_duration_field_parses_and_serialises_short() -> None:
    model = _Window.model_validate({"window": "PT1H30M"})
    assert model.window == timedelta(hours=1, minutes=30)
    assert model.model_dump(mode="json") == {"window": "1h30m"}
    assert model.model_dump_json() == '{"window":"1h30m"}'


def test_duration_field_round_trips_through_json() -> None:
    model = _Window(window=timedelta(days=2, seconds=1))
    assert _Window.model_validate_json(model.model_dump_json()) == model


@pytest.mark.parametrize("bad", ["4x", True, "", None])
def test_duration_field_rejects_with_validation_error(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        _Window.model_validate({"window": bad})
    assert info.value.errors()[0]["loc"] == ("window",)


def test_duration_field_json_schema_is_a_string() -> None:
    schema = _Window.model_json_schema()["properties"]["window"]
    assert schema["type"] == "string"
    assert "4h" in schema["examples"]
