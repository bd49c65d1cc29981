"""Durations a person writes in JSON: ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"``, combinations such as ``"1h30m"``,
ISO 8601 (``"PT4H"``, ``"P2D"``), or a number of seconds. They are written back in the short form."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SHORT = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*)+$")
_SHORT_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_ISO = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: object) -> timedelta:
    """Parse a duration, raising ValueError with the accepted forms when it is not one."""
    try:
        return _parse_duration(value)
    except OverflowError:
        raise ValueError(f"{value!r} is too long a duration") from None


def _parse_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "90s", "30m", "4h", "2d" or "PT4H"')
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        if _SHORT.match(text):
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _SHORT_PART.findall(text)))
        iso = _ISO.match(text.upper())
        if iso and text.upper() not in {"P", "PT"} and any(iso.groupdict().values()):
            parts = {k: float(v) for k, v in iso.groupdict().items() if v}
            return timedelta(
                weeks=parts.get("w", 0),
                days=parts.get("d", 0),
                hours=parts.get("h", 0),
                minutes=parts.get("m", 0),
                seconds=parts.get("s", 0),
            )
    raise ValueError(f'{value!r} is not a duration: write e.g. "90s", "30m", "4h", "2d" or "PT4H"')


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


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$|^P",
            "examples": ["90s", "30m", "4h", "2d", "PT4H"],
        }
    ),
]
"""A duration field: parsed from the forms above, written back as ``"4h"``."""
