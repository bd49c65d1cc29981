"""What each router kind can express, checked against a spec's steps before any traffic moves. Pure.

A step that a target's router cannot carry out exactly must not start: a router that ignored a step's segments
would expose everyone where the requester asked for internal users only. So the rollout refuses at start, naming
the step, rather than failing (or worse, approximating) when it reaches the step hours later. The activities'
verify-after-write is the second line: a router that reports other segments than asked fails the step.

nginx targets any header without an underscore (nginx drops such headers unless told otherwise), through maps in
the include it rewrites. HAProxy targets the headers its target lists in ``segment_maps`` (one runtime map each,
one segment per header); without them it refuses segments, as http does.
"""

from __future__ import annotations

from models.segments import Segment, header_of
from models.spec import HaproxyRouter, NginxRouter, RolloutSpec, RouterSpec, UnleashRouter
from models.strategy import mirror_positions

SEGMENT_ROUTERS = frozenset({"nginx", "unleash"})
"""Router kinds that can target any segments (attribute matches) as well as a percentage."""

MIRROR_ROUTERS = frozenset({"http"})
"""Router kinds that can copy live requests to the candidate (a shadow item's mirror mode); nginx can when its
target names the internal location that proxies the copies (``mirror_location``). HAProxy has no request mirror
of its own and an Unleash flag only chooses a variant, so both refuse."""


def can_mirror(router: RouterSpec) -> bool:
    """Whether the router can switch a mirror of live traffic to the candidate on and off, and read it back."""
    if isinstance(router, NginxRouter):
        return router.mirror_location is not None
    return router.kind in MIRROR_ROUTERS


def mirror_problems(spec: RolloutSpec, router: RouterSpec, where: str) -> list[str]:
    """Each mirror item the router cannot carry out, as ``strategy[i].mode: why``."""
    if can_mirror(router):
        return []
    hint = " (its target sets no mirror_location)" if isinstance(router, NginxRouter) else ""
    return [
        f"strategy[{index}].mode: {where} router {router.kind} cannot mirror traffic{hint}; use mode replay or a "
        "target whose router can mirror (http, nginx with mirror_location)"
        for index in mirror_positions(spec.strategy)
    ]


def _resolution(router: RouterSpec) -> tuple[float, str] | None:
    """The finest share a router expresses exactly, with how it is said; None: any share."""
    if isinstance(router, UnleashRouter):
        return 1.0, "whole percentages (Unleash's rollout is an integer)"
    if isinstance(router, HaproxyRouter):
        return 0.5, "steps of 0.5% (HAProxy weights 0-200)"
    return None


def capability_problems(spec: RolloutSpec, router: RouterSpec, where: str) -> list[str]:
    """Each step the router cannot express exactly, as ``steps[i].field: why`` (``where`` names the target)."""
    problems = mirror_problems(spec, router, where)
    resolution = _resolution(router)
    for i, step in enumerate(spec.steps):
        if step.segments and isinstance(router, HaproxyRouter) and router.segment_maps:
            problems += _haproxy_segments(step.segments, router, f"steps[{i}].segments", where)
        elif step.segments and isinstance(router, NginxRouter):
            problems += [
                f"steps[{i}].segments: the nginx router of {where} cannot match the {header_of(s)} header: nginx "
                "ignores request headers with an underscore (underscores_in_headers off)"
                for s in step.segments
                if "_" in header_of(s)
            ]
        elif step.segments and router.kind not in SEGMENT_ROUTERS:
            kinds = ", ".join(sorted(SEGMENT_ROUTERS))
            problems.append(
                f"steps[{i}].segments: the {router.kind} router of {where} cannot target segments, only a share of "
                f"all users; use a target whose router can ({kinds}, or haproxy with segment_maps), or drop the "
                "step's segments"
            )
        if resolution is not None:
            unit, said = resolution
            if abs(step.weight / unit - round(step.weight / unit)) > 1e-9:
                problems.append(
                    f"steps[{i}].weight: {step.weight:g}% cannot be set exactly by the {router.kind} router of "
                    f"{where}, which takes {said}"
                )
    return problems


def _haproxy_segments(segments: list[Segment], router: HaproxyRouter, field: str, where: str) -> list[str]:
    """What a HAProxy with runtime maps for some headers cannot express of one step's segments."""
    targetable = {header.lower() for header in router.segment_maps}
    listed = ", ".join(sorted(router.segment_maps))
    problems: list[str] = []
    seen: set[str] = set()
    for segment in segments:
        header = header_of(segment)
        if header.lower() not in targetable:
            problems.append(
                f"{field}: the haproxy router of {where} cannot match the {header} header (it targets {listed}); "
                "use a target that can, or drop that segment"
            )
        elif header.lower() in seen:
            problems.append(
                f"{field}: two segments on the {header} header; the haproxy router of {where} takes one per "
                "header (put the values in one segment)"
            )
        seen.add(header.lower())
    return problems
