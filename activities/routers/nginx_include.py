"""The weights include file of the ``nginx`` router: render it, and parse it back (ours or somebody else's).

The file carries its own revision (a hash of its body) in a header line, so the router can tell three cases
apart without any state of its own: a file it wrote (and which weights it holds), a file edited by an outside
hand (the hash no longer matches), and no file at all. The same revision is served by nginx through
``$<variable>_weights``, which is how a reload is seen to have taken effect.

A step's segments become one ``map $http_<header>`` per segment (``1`` for a matching value, exact and
case-sensitive through an anchored regex, as the other routers match) and a last map that hands out the
``split_clients`` choice only when every segment matched, stable otherwise. The served weights line then ends with
``segments=<header>=<v>,<v>+region=<v>``; a file without segments is byte for byte what it was before targeting.

A target whose main configuration mirrors requests (``mirror_location``: ``mirror /__mirror;`` in the served
location, and an internal ``/__mirror`` that proxies to the candidate unless ``$<variable>_mirror`` is 0) gets
that variable in every file, 1 while a mirror is on; the served weights line then ends with ``mirror=on``. nginx's
``mirror`` directive takes no variables, so the switch is the internal location's, flipped by the same rewrite,
test and reload as a weight. A file for a target without ``mirror_location`` is byte for byte what it was before.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from models.activities import RouterState
from models.segments import HeaderSegment, RegionSegment, Segment, header_of, values_of
from models.spec import NginxRouter

_HEADER = "# durable-rollouts weights; the rollout owns this file and rewrites it whole (do not edit)."
_REVISION = re.compile(r"^# revision: (?P<rev>[0-9a-f]{16})\n", re.MULTILINE)
_WEIGHTS = re.compile(
    r"stable=(?P<stable>[0-9.]+) candidate=(?P<candidate>[0-9.]+) revision=(?P<rev>[0-9a-f]{16})"
    r"(?: segments=(?P<segments>[A-Za-z0-9_.:@/,=+-]+))?"
    r"(?: mirror=(?P<mirror>on))?"
)


class IncludeError(ValueError):
    """The text is not a weights file this router wrote (or not a weights line nginx serves)."""


@dataclass(frozen=True)
class Weights:
    """Weights with the revision of the file that holds them."""

    state: RouterState
    revision: str


def hundredths(percent: float) -> int:
    """``percent`` in hundredths: ``split_clients`` takes at most two decimals, so finer weights are refused."""
    scaled = round(percent * 100)
    if abs(scaled - percent * 100) > 1e-6 or not 0 <= scaled <= 10_000:
        raise ValueError(f"{percent!r}% is not a percentage with at most two decimals, as nginx split_clients needs")
    return scaled


def _pct(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def header_variable(header: str) -> str:
    """The nginx variable of a request header: ``X-User-Group`` is ``$http_x_user_group``."""
    return "$http_" + header.lower().replace("-", "_")


def _regex(value: str) -> str:
    """An anchored, case-sensitive regex matching exactly ``value`` (segment values need no other escape)."""
    return "~^" + value.replace(".", "\\.") + "$"


def _targeting(spec: NginxRouter, segments: list[Segment]) -> str:
    """The maps that hand the split's choice to users in every segment, stable to everyone else."""
    var = spec.variable
    out = []
    for i, segment in enumerate(segments):
        lines = "".join(f"    {_regex(value)} 1;\n" for value in values_of(segment))
        out.append(f"map {header_variable(header_of(segment))} ${var}_in_{i} {{\n{lines}    default 0;\n}}\n")
    both = "".join(f"${var}_in_{i}" for i in range(len(segments)))
    out.append(
        f'map "{both}" ${var} {{\n    "{"1" * len(segments)}" ${var}_split;\n    default {spec.stable_upstream};\n}}\n'
    )
    return "".join(out)


def served_segments(segments: list[Segment]) -> str:
    """Segments as the served weights line names them: ``X-User-Group=internal,beta+region=eu-west``."""
    return "+".join(
        f"{'region' if isinstance(s, RegionSegment) else s.header}={','.join(values_of(s))}" for s in segments
    )


def parse_segments(text: str) -> list[Segment]:
    """The segments of a served weights line's ``segments=`` part (see :func:`served_segments`)."""
    out: list[Segment] = []
    for part in text.split("+"):
        name, _, values = part.partition("=")
        listed = values.split(",")
        try:
            if name == "region":
                out.append(RegionSegment(region=listed))
            else:
                out.append(HeaderSegment.model_validate({"header": name, "in": listed}))
        except ValueError as exc:
            raise IncludeError(f"segments {part[:120]!r}: {exc}") from None
    return out


def _body(spec: NginxRouter, candidate: int, segments: list[Segment] | None = None) -> str:
    var, stable_up, candidate_up = spec.variable, spec.stable_upstream, spec.candidate_upstream
    split = f"{var}_split" if segments else var
    if candidate == 0:
        buckets = f"    * {stable_up};"
    elif candidate == 10_000:
        buckets = f"    * {candidate_up};"
    else:
        buckets = f"    {_pct(candidate)}% {candidate_up};\n    * {stable_up};"
    return (
        "# Sticky key: the user id when the client sends one, else the request id (a fresh draw per request).\n"
        f"map $http_x_user_id ${var}_key {{\n"
        '    "" $request_id;\n'
        "    default $http_x_user_id;\n"
        "}\n"
        f"split_clients ${var}_key ${split} {{\n{buckets}\n}}\n"
    ) + (_targeting(spec, segments) if segments else "")


def render(spec: NginxRouter, state: RouterState) -> tuple[str, str]:
    """The include file for ``state`` and its revision (the same weights always give the same file)."""
    candidate = hundredths(state.candidate)
    segments = list(state.segments) if candidate else []  # at 0% no one sees the candidate: nothing to target
    if state.mirror and spec.mirror_location is None:
        raise ValueError("this target cannot mirror traffic: its router sets no mirror_location")
    body = _body(spec, candidate, segments)
    if spec.mirror_location is not None:
        body += f"map $http_x_user_id ${spec.variable}_mirror {{\n    default {int(state.mirror)};\n}}\n"
    revision = hashlib.sha256(body.encode()).hexdigest()[:16]
    stable = 10_000 - candidate
    served = f"stable={_pct(stable)} candidate={_pct(candidate)} revision={revision}"
    if segments:
        served += f" segments={served_segments(segments)}"
    if state.mirror:
        served += " mirror=on"
    tail = f'map $http_x_user_id ${spec.variable}_weights {{\n    default "{served}";\n}}\n'
    return f"{_HEADER}\n# revision: {revision}\n{body}{tail}", revision


def parse(spec: NginxRouter, text: str) -> Weights:
    """The weights of a file this router wrote; ``IncludeError`` naming why when it is not one (any more)."""
    found = _REVISION.search(text)
    if found is None or not text.startswith(_HEADER):
        raise IncludeError("it has no revision header (not written by the rollout)")
    weights = _WEIGHTS.search(text)
    if weights is None:
        raise IncludeError("it has no weights line")
    state = _state(weights)
    try:
        expected, revision = render(spec, state)
    except ValueError as exc:
        raise IncludeError(str(exc)) from exc
    if text != expected:
        raise IncludeError(f"its content differs from what revision {found['rev']} wrote (edited by hand?)")
    return Weights(state=state, revision=revision)


def parse_served(text: str) -> Weights:
    """The weights line nginx serves from ``$<variable>_weights``."""
    found = _WEIGHTS.search(text)
    if found is None:
        raise IncludeError(f"no weights in {text[:120]!r}")
    return Weights(state=_state(found), revision=found["rev"])


def _state(found: re.Match[str]) -> RouterState:
    segments = parse_segments(found["segments"]) if found["segments"] else []
    return RouterState(
        stable=float(found["stable"]),
        candidate=float(found["candidate"]),
        segments=segments,
        mirror=found["mirror"] is not None,
    )
