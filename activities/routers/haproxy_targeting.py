"""Targeting on HAProxy: a step's segments as runtime maps that the frontend's ACLs read. Pure, no I/O.

Each header a target may target (``segment_maps`` of the router: ``X-User-Group``, ``X-Region`` ...) has one map
file, declared in the frontend's rules (:func:`frontend_rules`) and changed only through the Runtime API. A map
holds either nothing (the header is not constrained) or the marker entry ``.targeted yes`` plus one
``<value> match`` entry per value the segment matches. For each header the frontend sends a request to the
stable-only backend when the marker is there and the request's header is not one of the values; every other
request goes to the weighted backend, whose weights are the candidate's share. So the share applies within the
segments, and everyone else sees stable only.

The marker's key starts with ``.``, which no segment value may (``models/segments.py``), and the ACLs compare the
map's answer with ``match``: a request sending ``X-User-Group: .targeted`` gets ``yes``, not ``match``, and is
not let in.

Changing segments is not one atomic step across several maps, so the router goes through the narrower of the
old and the new targeting (:func:`intersection`): first every map narrows to it, then the weights move, then
every map widens to the new one. Each state in between exposes a subset of what the old step or the new one
exposes, never someone neither does.
"""

from __future__ import annotations

from models.segments import REGION_HEADER, HeaderSegment, RegionSegment, Segment, header_of, values_of
from models.spec import HaproxyRouter

MARKER_KEY = ".targeted"
"""The map entry whose presence says "this header is constrained" (no segment value starts with a dot)."""
MARKER_VALUE = "yes"
MATCH_VALUE = "match"
"""What a map answers for a value the segment matches; the ACL compares with this, not with mere presence."""

Targeting = dict[str, frozenset[str] | None]
"""Per targetable header (lower case): the values that match, or None when the header is not constrained."""


class TargetingError(ValueError):
    """Segments this router cannot express (a header without a map, the same header twice)."""


def map_of(spec: HaproxyRouter) -> dict[str, tuple[str, str]]:
    """Header in lower case -> (the header as the operator wrote it, its map file)."""
    return {header.lower(): (header, path) for header, path in spec.segment_maps.items()}


def targeting_of(spec: HaproxyRouter, segments: list[Segment]) -> Targeting:
    """The maps' contents that express ``segments`` on this router; ``TargetingError`` when they cannot."""
    maps = map_of(spec)
    out: Targeting = dict.fromkeys(maps)
    for segment in segments:
        header = header_of(segment).lower()
        if header not in maps:
            raise TargetingError(
                f"no runtime map for the {header_of(segment)} header (segment_maps has "
                f"{', '.join(sorted(spec.segment_maps)) or 'none'})"
            )
        if out[header] is not None:
            raise TargetingError(f"two segments on the {header_of(segment)} header; put their values in one")
        out[header] = frozenset(values_of(segment))
    return out


def intersection(old: Targeting, new: Targeting) -> Targeting:
    """The narrower of two targetings: constrained where either is, to the values both let in."""
    out: Targeting = {}
    for header in old.keys() | new.keys():
        a, b = old.get(header), new.get(header)
        out[header] = a if b is None else b if a is None else a & b
    return out


def entries(values: frozenset[str] | None) -> list[tuple[str, str]]:
    """The map entries for one header: none when unconstrained, else the marker and each value."""
    if values is None:
        return []
    return [(MARKER_KEY, MARKER_VALUE), *((value, MATCH_VALUE) for value in sorted(values))]


def map_file_text(header: str, values: frozenset[str] | None) -> str:
    """The map file HAProxy loads at start: the same entries as the runtime map, so a restart keeps them."""
    lines = [f"# {header}: written by the durable-rollouts haproxy router; changed through the Runtime API"]
    lines += [f"{key} {value}" for key, value in entries(values)]
    return "\n".join(lines) + "\n"


class MapParseError(ValueError):
    """A ``show map`` answer that is not a list of entries."""


def parse_show_map(text: str) -> frozenset[str] | None:
    """The values a ``show map <file>`` answer lets in, None when unconstrained (no marker).

    Each line is ``<ref> <key> <value>``; entries other than the marker and ``match`` ones (an operator's hand
    edit) make the answer unreadable, so the router does not report a targeting it did not write.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or not fields[0].startswith("0x"):
            raise MapParseError(f"unexpected line {line[:120]!r}")
        found[fields[1]] = fields[2]
    marker = found.pop(MARKER_KEY, None)
    strangers = {key: value for key, value in found.items() if value != MATCH_VALUE}
    if strangers or (marker is not None and marker != MARKER_VALUE):
        raise MapParseError(f"entries the router does not write: {sorted(strangers.items())[:5]!r}")
    if marker is None:
        if found:
            raise MapParseError(f"values {sorted(found)[:5]!r} without the {MARKER_KEY} marker")
        return None
    return frozenset(found)


def segments_of(spec: HaproxyRouter, targeting: Targeting, asked: list[Segment] | None = None) -> list[Segment]:
    """The segments a targeting expresses, in the form and order ``asked`` used where it names the same header.

    A constrained ``X-Region`` is reported as a region segment unless the request named it as a header.
    """
    maps = map_of(spec)
    forms = {header_of(s).lower(): s for s in asked or []}
    order = list(forms)
    out: list[Segment] = []
    for header in sorted(targeting, key=lambda h: (order.index(h) if h in order else len(order), h)):
        values = targeting[header]
        if values is None:
            continue
        form = forms.get(header)
        if isinstance(form, HeaderSegment) or (form is None and header != REGION_HEADER.lower()):
            name = form.header if isinstance(form, HeaderSegment) else maps[header][0]
            out.append(HeaderSegment.model_validate({"header": name, "in": sorted(values)}))
        else:
            out.append(RegionSegment(region=sorted(values)))
    return out


def frontend_rules(spec: HaproxyRouter, *, stable_backend: str) -> str:
    """The frontend lines that send users outside the segments to ``stable_backend`` (before default_backend).

    One ``use_backend`` per targetable header: constrained (marker present) and the request's last value of the
    header not a matching value. Unconstrained headers never match, so no segments means the weighted backend
    for everyone, as before targeting existed.
    """
    lines = []
    for header, path in spec.segment_maps.items():
        lines.append(
            f"    use_backend {stable_backend} if {{ str({MARKER_KEY}),map({path}) -m str {MARKER_VALUE} }} "
            f"!{{ req.fhdr({header}),map({path}) -m str {MATCH_VALUE} }}\n"
        )
    return "".join(lines)
