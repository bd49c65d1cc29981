"""Prometheus text exposition format (0.0.4): just enough to write the model servers' ``/metrics`` and read it back.

The writer lets the end-to-end tests put a real Prometheus in front of the model servers; the parser lets tests
(and any provider that scrapes a target directly) read the same text without a Prometheus client library.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    """Prometheus' spelling of a sample value: integers without a fraction, ``+Inf`` / ``-Inf`` / ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def format_le(bound_seconds: float) -> str:
    """A histogram ``le`` label: short and stable (``0.00538``, ``30``, ``+Inf``)."""
    return "+Inf" if math.isinf(bound_seconds) else f"{bound_seconds:.6g}"


def sample_line(name: str, labels: Labels, value: float) -> str:
    """One sample line, labels in the given order."""
    if labels:
        rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        return f"{name}{{{rendered}}} {format_value(value)}"
    return f"{name} {format_value(value)}"


def family_header(name: str, kind: str, help_text: str) -> list[str]:
    """The ``# HELP`` and ``# TYPE`` lines of a metric family."""
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def render(lines: Iterable[str]) -> bytes:
    """Join lines into an exposition body (which must end with a newline)."""
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Sample:
    """One parsed sample."""

    name: str
    labels: dict[str, str]
    value: float


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+-?\d+)?$")
_LABEL = re.compile(r'\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*,?')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _parse_value(text: str) -> float:
    lowered = text.lower()
    if lowered in {"+inf", "inf"}:
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return math.nan
    return float(text)


def parse(text: str) -> tuple[list[Sample], dict[str, str]]:
    """Parse an exposition body into samples and the declared ``# TYPE`` of each family.

    Raises:
        ValueError: a line is not valid exposition format.
    """
    samples: list[Sample] = []
    types: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(maxsplit=3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3]
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"line {number}: not a sample: {raw!r}")
        labels: dict[str, str] = {}
        label_text = match.group("labels") or ""
        position = 0
        while position < len(label_text):
            label = _LABEL.match(label_text, position)
            if label is None:
                raise ValueError(f"line {number}: malformed labels: {label_text!r}")
            labels[label.group("key")] = _unescape(label.group("value"))
            position = label.end()
        samples.append(Sample(match.group("name"), labels, _parse_value(match.group("value"))))
    return samples, types
