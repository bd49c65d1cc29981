"""Targeting: who, beyond a percentage, a step exposes to the candidate (internal users, a region, a plan).

A step's exposure is its ``weight`` (a share of users, sticky by user id) within its ``segments``: a user sees the
candidate only when every segment matches (segments AND, the values of one segment OR) and the user falls in the
share. No segments: everyone is in scope, as before segments existed.

A segment matches a request attribute, which every router reads from a request header, because that is what
reaches a gateway, a proxy and a flag SDK alike: ``{"header": "X-User-Group", "in": ["internal"]}``, or
``{"region": ["eu-west"]}``, short for the ``X-Region`` header. The flag router turns each into a constraint of
the flag's strategy on the context field :func:`context_name` names; the gateway fills that context field from the
same header. Pure models, no I/O.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from models.limits import MAX_SEGMENT_VALUE_CHARS, MAX_SEGMENT_VALUES

REGION_HEADER = "X-Region"
"""The request header that carries a user's region (set by the edge); a region segment matches it."""

_HEADER = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
"""A header name: letters, digits, ``-`` and ``_``, which every router can carry without quoting."""
_VALUE = r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$"
"""A value to match: no spaces, quotes, commas or control characters, so a proxy's ACL or map needs no escaping."""

SegmentValue = Annotated[str, Field(min_length=1, max_length=MAX_SEGMENT_VALUE_CHARS, pattern=_VALUE)]
SegmentValues = Annotated[list[SegmentValue], Field(min_length=1, max_length=MAX_SEGMENT_VALUES)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, serialize_by_alias=True, validate_by_alias=True)


class HeaderSegment(_Model):
    """Users whose request header ``header`` holds one of ``in`` (exact, case-sensitive match)."""

    header: str = Field(pattern=_HEADER, description="The request header to match, e.g. X-User-Group.")
    values: SegmentValues = Field(alias="in", description="Values that match (any one of them).")


class RegionSegment(_Model):
    """Users in one of these regions, as the ``X-Region`` request header names them."""

    region: SegmentValues = Field(description="Regions that match (any one of them), e.g. eu-west.")


Segment = HeaderSegment | RegionSegment
"""One attribute match of a step's targeting."""


def header_of(segment: Segment) -> str:
    """The request header a segment reads."""
    return REGION_HEADER if isinstance(segment, RegionSegment) else segment.header


def values_of(segment: Segment) -> list[str]:
    """The values a segment matches."""
    return segment.region if isinstance(segment, RegionSegment) else segment.values


def context_name(segment: Segment) -> str:
    """The flag context field a segment becomes: ``region``, or the header's name in lower case."""
    return "region" if isinstance(segment, RegionSegment) else segment.header.lower()


def describe(segments: list[Segment] | tuple[Segment, ...]) -> str:
    """``X-User-Group in internal,beta and region in eu-west``, for notes and the record."""
    return " and ".join(
        f"{'region' if isinstance(s, RegionSegment) else s.header} in {','.join(values_of(s))}" for s in segments
    )


def same_segments(a: list[Segment], b: list[Segment]) -> bool:
    """Whether two targetings match the same users.

    Headers are compared case-insensitively (as HTTP does); the order of segments and of values is ignored.
    """

    def key(segments: list[Segment]) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((context_name(s), tuple(sorted(values_of(s)))) for s in segments)

    return key(a) == key(b)
