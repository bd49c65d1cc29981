"""Durations a person writes in JSON, and the bounded preview of a bad value that error messages quote.

A duration is ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"``, a combination such as ``"1h30m"``, ISO 8601
(``"PT4H"``, ``"P2D"``), or a number of seconds, with ASCII digits only. It is written back in the short form. A
``Duration`` field holds one between 0 and ``MAX_DURATION`` (90 days).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

MAX_DURATION = timedelta(days=90)
"""The longest duration a spec may hold (inclusive). A canary step, an approval wait or a held step lasts hours or
days (the default schedule observes 48 h in all); 90 days is far beyond that, and keeps the workflow's date
arithmetic (now + duration, times 20 steps and 10 extensions) far from ``datetime``'s limits: ``"3000000d"`` used
to parse, then raise ``OverflowError`` inside the workflow."""

MAX_DURATION_TEXT = 64
"""Longest duration text parsed: ``"1d2h3m4s5ms"`` is 11 characters; longer text is refused before any regex
runs on it."""

PREVIEW_CHARS = 40
"""How much of a bad value an error message quotes: enough to recognise it, never the whole of a 1 MB value."""

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# ASCII only: `\d` would take full-width and other Unicode digits, which float() then reads as numbers.
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_SHORT = re.compile(rf"^(?:{_NUMBER}\s*(?:ms|s|m|h|d|w)\s*)+$", re.ASCII)
_SHORT_PART = re.compile(rf"({_NUMBER})\s*(ms|s|m|h|d|w)", re.ASCII)
_ISO = re.compile(
    rf"^P(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?$",
    re.ASCII,
)
_FORMS = 'write e.g. "90s", "30m", "4h", "2d" or "PT4H"'


def preview(value: object) -> str:
    """A short, bounded rendering of a value for an error message.

    Strings and bytes are quoted up to ``PREVIEW_CHARS`` characters, then ``...`` and their total length;
    numbers are shown whole unless huge; containers and other objects by their type and size.
    """
    if isinstance(value, str | bytes):
        if len(value) <= PREVIEW_CHARS:
            return repr(value)
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:PREVIEW_CHARS]!r}... ({len(value):,} {unit})"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if abs(value) < 10**PREVIEW_CHARS:
            return repr(value)
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple | dict | set | frozenset):
        return f"a {type(value).__name__} of {len(value):,} item{'' if len(value) == 1 else 's'}"
    return f"a {type(value).__name__[:PREVIEW_CHARS]}"


def parse_duration(value: object) -> timedelta:
    """Parse a duration of any size, raising ``ValueError`` (never ``OverflowError``) when it is not one.

    The error says which forms are accepted. The range a spec allows is the ``Duration`` type's (see
    ``bounded_duration``).
    """
    try:
        return _parse_duration(value)
    except OverflowError:
        if isinstance(value, int | float) and value < 0:
            raise ValueError(f"{preview(value)} is negative; a duration is between 0s and {_MAX_TEXT}") from None
        raise ValueError(f"{preview(value)} is longer than {_MAX_TEXT}, the longest a duration may be") from None


def _parse_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "90s", "30m", "4h", "2d" or "PT4H"')
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{preview(value)} is not a duration: {_FORMS}")
        return timedelta(seconds=value)
    if isinstance(value, str):
        if len(value) > MAX_DURATION_TEXT:
            raise ValueError(f"{preview(value)} is not a duration: more than {MAX_DURATION_TEXT} characters")
        if not value.isascii():
            raise ValueError(f"{preview(value)} is not a duration: non-ASCII characters (digits are 0-9); {_FORMS}")
        text = value.strip()
        if _SHORT.match(text):
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _SHORT_PART.findall(text)))
        iso = _ISO.match(text.upper())
        if iso and any(iso.groupdict().values()):
            parts = {k: float(v) for k, v in iso.groupdict().items() if v}
            return timedelta(
                weeks=parts.get("w", 0),
                days=parts.get("d", 0),
                hours=parts.get("h", 0),
                minutes=parts.get("m", 0),
                seconds=parts.get("s", 0),
            )
    raise ValueError(f"{preview(value)} is not a duration: {_FORMS}")


def bounded_duration(value: object) -> timedelta:
    """Parse a duration and check that it is between 0 and ``MAX_DURATION`` inclusive: a ``Duration`` field."""
    parsed = parse_duration(value)
    shown = preview(value) if isinstance(value, str) else format_duration(parsed)
    if parsed < timedelta():
        raise ValueError(f"{shown} is negative; a duration is between 0s and {_MAX_TEXT}")
    if parsed > MAX_DURATION:
        raise ValueError(f"{shown} is longer than {_MAX_TEXT}, the longest a duration may be")
    return parsed


def format_duration(value: timedelta) -> str:
    """The shortest exact short form: ``timedelta(hours=1, minutes=30)`` -> ``"1h30m"``."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    sign, total_ms = ("-", -total_ms) if total_ms < 0 else ("", total_ms)
    out = []
    for unit, size_ms in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, total_ms = divmod(total_ms, size_ms)
        if count:
            out.append(f"{count}{unit}")
    return sign + "".join(out)


_MAX_TEXT = f"{MAX_DURATION.days} days ({format_duration(MAX_DURATION)})"

Duration = Annotated[
    timedelta,
    BeforeValidator(bounded_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$|^P",
            "maxLength": MAX_DURATION_TEXT,
            "examples": ["90s", "30m", "4h", "2d", "PT4H"],
        }
    ),
]
"""A duration field: parsed from the forms above, between 0 and 90 days, written back as ``"4h"``."""
