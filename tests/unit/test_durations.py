"""models.durations: parsing the forms a person writes, and writing back the short canonical form."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from models.durations import (
    MAX_DURATION,
    MAX_DURATION_TEXT,
    PREVIEW_CHARS,
    Duration,
    bounded_duration,
    format_duration,
    parse_duration,
    preview,
)


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


# ---------------------------------------------------------------- ASCII only, 0 to 90 days, never OverflowError


@pytest.mark.parametrize("text", ["１０s", "１h", "٣h", "۵m", "१०s", "²h", "1０s", "P１D", "PT１H", "4h\u3000"])
def test_non_ascii_digits_and_spaces_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="non-ASCII characters") as info:
        parse_duration(text)
    assert '"90s"' in str(info.value)


def test_text_longer_than_the_cap_is_refused_before_parsing() -> None:
    assert parse_duration("1d2h3m4s5ms") == timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)
    with pytest.raises(ValueError, match=f"more than {MAX_DURATION_TEXT} characters") as info:
        parse_duration("1s" * 1_000_000)
    assert len(str(info.value)) < 200


def test_parse_has_no_upper_bound_but_the_field_type_does() -> None:
    assert parse_duration("3000000d") == timedelta(days=3_000_000)
    with pytest.raises(ValueError, match=r"'3000000d' is longer than 90 days \(90d\), the longest a duration may be"):
        bounded_duration("3000000d")


@pytest.mark.parametrize("value", ["90d", "P90D", "2160h", "12w6d", 7_776_000, 7_776_000.0, "0s", 0, "PT0S"])
def test_bounds_are_inclusive(value: object) -> None:
    assert timedelta() <= bounded_duration(value) <= MAX_DURATION == timedelta(days=90)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("90d1ms", "'90d1ms' is longer than 90 days"),
        (7_776_000.001, "90d1ms is longer than 90 days"),
        ("13w", "'13w' is longer than 90 days"),
        (-0.001, "-1ms is negative; a duration is between 0s and 90 days (90d)"),
        (-1e308, "-1e+308 is negative"),
        (1e308, "1e+308 is longer than 90 days"),
        (10**400, "an integer of about 401 digits is longer than 90 days"),
        (-(10**400), "a negative integer of about 401 digits is negative"),
        (float("inf"), "inf is not a duration"),
        (float("-inf"), "-inf is not a duration"),
        (float("nan"), "nan is not a duration"),
        ("P99999999999D", "'P99999999999D' is longer than 90 days"),
    ],
)
def test_out_of_bounds_is_a_value_error_naming_the_bound(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        bounded_duration(value)


@given(
    st.one_of(
        st.floats(),
        st.integers(),
        st.integers(min_value=-(10**500), max_value=10**500),
        st.text(max_size=80),
        st.from_regex(r"\A[0-9]{1,30}(\.[0-9]{1,30})?(ms|s|m|h|d|w)\Z"),
        st.from_regex(r"\AP([0-9]{1,20}W)?([0-9]{1,20}D)?(T([0-9]{1,20}H)?([0-9]{1,20}M)?([0-9]{1,20}S)?)?\Z"),
    )
)
def test_bounded_duration_is_in_range_or_a_short_value_error(value: object) -> None:
    outcome: timedelta | str
    try:
        outcome = bounded_duration(value)
    except ValueError as exc:  # never OverflowError
        outcome = str(exc)
    if isinstance(outcome, str):
        assert len(outcome) < 250  # never the whole of a long value
    else:
        assert timedelta() <= outcome <= MAX_DURATION


class _Step(BaseModel):
    model_config = ConfigDict(strict=True)
    observe: Duration


@pytest.mark.parametrize("bad", ["１０s", "3000000d", "91d", -1, True, "10"])
def test_duration_field_refuses_out_of_range_and_non_ascii(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        _Step.model_validate({"observe": bad})
    assert info.value.errors()[0]["loc"] == ("observe",)


def test_duration_field_in_a_strict_model_reads_strings_and_json() -> None:
    assert _Step.model_validate({"observe": "4h"}).observe == timedelta(hours=4)
    assert _Step.model_validate_json('{"observe": "PT4H"}').observe == timedelta(hours=4)
    assert _Step.model_validate_json('{"observe": 90}').observe == timedelta(seconds=90)


# ---------------------------------------------------------------- preview


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("4h", "'4h'"),
        ("x" * PREVIEW_CHARS, repr("x" * PREVIEW_CHARS)),
        ("x" * 1_000_000, repr("x" * PREVIEW_CHARS) + "... (1,000,000 characters)"),
        (b"y" * 100, repr(b"y" * PREVIEW_CHARS) + "... (100 bytes)"),
        (True, "True"),
        (None, "None"),
        (12, "12"),
        (2.5, "2.5"),
        (10**50, "an integer of about 51 digits"),
        ([1] * 10, "a list of 10 items"),
        ({"a": 1}, "a dict of 1 item"),
        (object(), "a object"),
    ],
)
def test_preview_is_short(value: object, shown: str) -> None:
    assert preview(value) == shown
