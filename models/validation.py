"""``validate_spec``: a raw JSON value in, a ``RolloutSpec`` or a ``SpecError`` naming every bad field out.

The models say what one field may hold; this module turns pydantic's errors into lines a person can act on
(``steps[2].weight: ...``), checks the relations between fields, and bounds the whole answer: at most
``MAX_PROBLEMS`` problems, each quoting only a prefix of a bad value.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any, cast, get_args

from pydantic import BaseModel, ConfigDict, PydanticUserError, TypeAdapter, ValidationError

from models.criteria import Criteria
from models.durations import PREVIEW_CHARS, format_duration, preview
from models.limits import (
    MAX_NESTING,
    MAX_PROBLEM_CHARS,
    MAX_PROBLEMS,
    MAX_SPEC_BYTES,
    MAX_STEPS,
)
from models.segments import same_segments
from models.spec import (
    ApprovalPolicy,
    Comparator,
    InconclusivePolicy,
    MetricsSpec,
    RolloutSpec,
    RouterSpec,
    ShadowSpec,
    Step,
    VersionRef,
)
from models.strategy import canary_positions, canary_steps, replay_positions, strategy_problems


class SpecError(ValueError):
    """The spec is invalid: ``problems`` names bad fields with the reason, each starting with the field's path.

    At most ``MAX_PROBLEMS`` are kept (``omitted`` counts the rest, ``total`` all of them), each at most
    ``MAX_PROBLEM_CHARS`` long, so the message is at most ``MAX_SPEC_ERROR_CHARS`` characters.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        if isinstance(problems, str):  # one problem, or the message itself (an unpickled SpecError)
            problems = [problems]
        self.total = len(problems)
        self.problems = [_clip(problem) for problem in problems[:MAX_PROBLEMS]]
        self.omitted = self.total - len(self.problems)
        lines = [f"  - {problem}" for problem in self.problems]
        if self.omitted:
            lines.append(f"  ... and {self.omitted:,} more")
        super().__init__(
            f"invalid rollout spec ({self.total:,} problem{'s' if self.total != 1 else ''}):\n" + "\n".join(lines)
        )


def _clip(problem: str) -> str:
    line = " ".join(problem.splitlines())
    return line if len(line) <= MAX_PROBLEM_CHARS else line[: MAX_PROBLEM_CHARS - 3] + "..."


def path_segment(name: str) -> str:
    """A field name as a problem's path shows it: as is when short and printable, else a bounded quoted preview."""
    return name if len(name) <= PREVIEW_CHARS and name.isprintable() else preview(name)


def _path(loc: tuple[int | str, ...], last_is_key: bool = False) -> str:
    out = ""
    for index, part in enumerate(loc):
        named = (last_is_key and index == len(loc) - 1) or (index > 0 and loc[index - 1] == "manifest")
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if index >= 2 and loc[index - 2] == "strategy" and isinstance(loc[index - 1], int):
            continue  # the strategy item's kind, as pydantic names the union member: the index says which item
        if not named and (part in _UNION_MEMBERS or "[" in part or part in _PROVIDER_TAGS or part in _SCALAR_MEMBERS):
            continue  # pydantic's union-member segment: noise to a person
        segment = path_segment(part)
        out += f".{segment}" if out else segment
    return out or "(spec)"


def _members(union: object) -> tuple[type[BaseModel], ...]:
    """The model classes of an ``Annotated[A | B, Field(discriminator=...)]`` union."""
    return cast(tuple[type[BaseModel], ...], get_args(get_args(union)[0]))


def _tag(model: type[BaseModel]) -> str:
    return str(get_args(model.model_fields["kind"].annotation)[0])


_PROVIDER_UNIONS = (RouterSpec, MetricsSpec, Comparator)
# Derived from the unions, so a new provider or comparator touches only its own class (and the factory).
# pydantic names a union member in an error's location by its tag or its class name: noise to a person.
_PROVIDER_TAGS = frozenset(_tag(m) for union in _PROVIDER_UNIONS for m in _members(union))
_UNION_MEMBERS = frozenset(m.__name__ for union in _PROVIDER_UNIONS for m in _members(union))
_SCALAR_MEMBERS = {"str", "int", "float", "bool"}  # pydantic names the member of a scalar union it tried


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        field = str(ctx.get("discriminator", "kind")).strip("'")
        what = "step kind" if loc and loc[0] == "strategy" else "provider kind"
        return (
            f"{_path(loc)}.{field}: unknown {what} {preview(ctx.get('tag'))} "
            f"(expected one of: {ctx.get('expected_tags')})"
        )
    if kind == "union_tag_not_found" and loc and loc[0] == "strategy":
        return f'{_path(loc)}.kind: missing (say which step, e.g. "kind": "canary")'
    if kind == "union_tag_not_found":
        return f'{_path(loc)}.kind: missing (say which provider, e.g. "kind": "http")'
    if kind == "missing":
        return f"{_path(loc)}: missing"
    if kind == "extra_forbidden":
        return f"{_path(loc, last_is_key=True)}: unknown field (check the spelling)"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if loc and loc[-1] == "[key]":
        message = f"the key: {message}"
    shown = error.get("input")
    suffix = ""
    if isinstance(shown, int | float | str | bytes) and (quoted := preview(shown)) not in message:
        suffix = f" (got {quoted})"
    return f"{_path(loc)}: {message}{suffix}"


def _describe_all(errors: list[Any]) -> list[str]:
    """One problem per field: a value that fits no member of a scalar union (the manifest's) is said once."""
    problems: list[str] = []
    scalar_union_paths: set[str] = set()
    for error in errors:
        loc = tuple(error["loc"])
        if len(loc) > 1 and loc[-1] in _SCALAR_MEMBERS and loc[-2] != "manifest":
            path = _path(loc)
            if path not in scalar_union_paths:
                scalar_union_paths.add(path)
                problems.append(f"{path}: expected a string, number or boolean")
            continue
        problems.append(_describe(error))
    return problems


# ---------------------------------------------------------------- the raw input, before pydantic


def _load_json(text: str | bytes) -> object:
    if isinstance(text, bytes) or len(text) > MAX_SPEC_BYTES:
        size = len(text)  # a str longer than the cap has at least as many bytes
    else:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        raise SpecError([f"(spec): {size:,} bytes or more, more than the {MAX_SPEC_BYTES:,} (256 KiB) a spec may have"])
    try:
        return json.loads(text)
    except RecursionError:
        raise SpecError([too_deep(text) or f"(spec): not JSON: nested more than {MAX_NESTING} levels deep"]) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the integer digits limit
        raise SpecError([f"(spec): not JSON: {exc}"]) from None


DEEP_PATH_PARTS = 3
"""How much of a too-deep value's path a problem names: enough to find the field, short whatever the depth."""


def _deep(path: Sequence[int | str]) -> str:
    return _join(path[:DEEP_PATH_PARTS]) + ("..." if len(path) > DEEP_PATH_PARTS else "")


def too_deep(raw: str | bytes) -> str | None:
    """The problem of JSON text nested more than ``MAX_NESTING`` levels, naming where; None when it is not.

    For text that a recursive parser gave up on (pydantic's JSON reader stops at a few hundred levels, Python's
    at about a thousand) before anything could say which field. One pass over at most ``MAX_SPEC_BYTES``
    characters, no recursion, memory bounded by the nesting limit: it tracks only the open containers and,
    for each, the key or index inside it. Malformed text is read as far as it goes (the parser's error stands
    then).
    """
    text = raw[:MAX_SPEC_BYTES].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:MAX_SPEC_BYTES]
    open_: list[list[Any]] = []  # per open container: [bracket, key or index, whether a key comes next]
    at, end = 0, len(text)
    while at < end:
        char = text[at]
        if char == '"':
            close = at + 1
            while close < end and text[close] != '"':
                close += 2 if text[close] == "\\" else 1
            if open_ and open_[-1][0] == "{" and open_[-1][2]:
                try:
                    open_[-1][1] = json.loads(text[at : close + 1])
                except ValueError:
                    open_[-1][1] = text[at + 1 : close]
                open_[-1][2] = False
            at = close + 1
            continue
        if char in "{[":
            if len(open_) > MAX_NESTING:
                path = [entry[1] for entry in open_ if entry[1] is not None]
                if not path or not isinstance(path[0], str):
                    return f"(spec): nested more than {MAX_NESTING} levels deep"
                return f"{_deep(path)}: nested more than {MAX_NESTING} levels deep"
            open_.append([char, None if char == "{" else 0, char == "{"])
        elif char in "}]" and open_:
            open_.pop()
        elif char == "," and open_:
            if open_[-1][0] == "[":
                open_[-1][1] += 1
            else:
                open_[-1][2] = True
        at += 1
    return None


def _join(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{path_segment(part)}" if out else path_segment(part)
    return out


class _Size:
    """What a walk of the raw input found: its size as compact UTF-8 JSON, and its longest string and where."""

    def __init__(self) -> None:
        self.bytes = 0
        self.longest: tuple[int, str | None, tuple[int | str, ...]] = (0, None, ())
        self.problem: str | None = None


def _json_size(value: object, where: tuple[int | str, ...], budget: int) -> _Size:
    """Walk ``value`` until its size passes ``budget``.

    Iterative, and each node counts at least a byte, so at most ``budget`` nodes are visited whatever the input.
    """
    found = _Size()
    stack: list[tuple[object, tuple[int | str, ...]]] = [(value, where)]
    while stack and found.bytes <= budget:
        item, path = stack.pop()
        if isinstance(item, str):
            found.bytes += len(item) + 2 if len(item) > budget else len(item.encode("utf-8", "surrogatepass")) + 2
            if len(item) > found.longest[0]:
                found.longest = (len(item), item, path)
        elif isinstance(item, Mapping | list | tuple):
            if len(path) > MAX_NESTING:
                found.problem = f"{_deep(path)}: nested more than {MAX_NESTING} levels deep"
                return found
            found.bytes += 2 + 2 * len(item)  # brackets, separators, a byte per member at least: before walking
            if found.bytes > budget:
                break
            if isinstance(item, Mapping):
                for key, member in item.items():
                    if not isinstance(key, str):
                        found.problem = f"{_join(path) or '(spec)'}: field names must be strings (got {preview(key)})"
                        return found
                    stack.append((key, (*path, key)))
                    stack.append((member, (*path, key)))
            else:
                stack.extend((member, (*path, index)) for index, member in enumerate(item))
        elif isinstance(item, bool) or item is None:
            found.bytes += 5
        elif isinstance(item, int):
            found.bytes += item.bit_length() * 3 // 10 + 2
        elif isinstance(item, float):
            found.bytes += len(repr(item))
        else:
            found.bytes += 1  # not a JSON value: the models refuse it with its path
    return found


def _raw_problems(data: Mapping[Any, Any]) -> list[str]:
    """Size, nesting and key types of the raw input, before it reaches pydantic (bounded work, no recursion).

    A spec over the size cap is refused naming its longest string when that string alone is most of the excess
    (a 1 MB value), else its largest top-level field (10,000 steps).
    """
    found = _json_size(data, (), MAX_SPEC_BYTES)
    if found.problem:
        return [found.problem]
    if found.bytes <= MAX_SPEC_BYTES:
        return []
    length, text, path = found.longest
    if text is not None and length > MAX_SPEC_BYTES // 4:
        return [f"{_join(path)}: too large for a spec of at most {_SIZE_CAP} of JSON (got {preview(text)})"]
    if 2 * len(data) > MAX_SPEC_BYTES:
        return [f"(spec): too large: {len(data):,} fields, in a spec of at most {_SIZE_CAP} of JSON"]
    sizes: dict[str, int] = {}
    budget = 2 * MAX_SPEC_BYTES  # shared by the fields, so this second walk is bounded too
    for key, value in data.items():
        sizes[key] = _json_size(value, (key,), min(MAX_SPEC_BYTES, budget)).bytes
        budget -= sizes[key]
        if budget <= 0:
            break
    largest = max(sizes, key=lambda key: sizes[key])
    return [
        f"{_join((largest,))}: too large: a spec may have at most {_SIZE_CAP} of JSON, and this field alone has "
        f"{sizes[largest]:,} bytes or more"
    ]


_SIZE_CAP = f"{MAX_SPEC_BYTES:,} bytes ({MAX_SPEC_BYTES // 1024} KiB)"


# ---------------------------------------------------------------- relations between fields


@functools.cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    info = RolloutSpec.model_fields[name]
    annotated = cast(Any, Annotated[info.annotation, info])
    try:
        return TypeAdapter(annotated, config=ConfigDict(strict=True, allow_inf_nan=False))
    except PydanticUserError:  # a model field: the model's own (strict) config applies
        return TypeAdapter(annotated)


def _parsed_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Each top-level field that validates on its own, so relations can be checked beside field errors."""
    parsed: dict[str, Any] = {}
    for name, info in RolloutSpec.model_fields.items():
        if name not in data:
            if not info.is_required():
                parsed[name] = info.get_default(call_default_factory=True)
            continue
        try:
            parsed[name] = _field_adapter(name).validate_python(data[name])
        except ValidationError:
            if name == "steps" and isinstance(data[name], list):
                # One bad step must not hide the others' problems: keep each step that parses on its own.
                parsed["_step_items"] = [_parse_step(item) for item in data[name][:MAX_STEPS]]
    return parsed


def _parse_step(item: object) -> Step | None:
    try:
        return Step.model_validate(item)
    except ValidationError:
        return None


def _relation_problems(fields: Mapping[str, Any]) -> list[str]:
    """Rules that tie fields together; each runs only when the fields it needs are valid.

    With a ``strategy``, the rules about steps run on its canary items and name them ``strategy[i]``.
    """
    strategy = fields.get("strategy")
    if strategy is None:
        return _step_relation_problems(fields)
    positions = canary_positions(strategy)
    problems = strategy_problems(
        strategy,
        approvals=fields.get("approvals") is not None,
        interval=fields.get("analysis_interval"),
        gates=any(fields.get(gate) is not None for gate in ("preflight", "eval", "shadow")),
        alpha=_criteria_alpha(fields.get("criteria")),
        custom=_custom_names(fields.get("criteria")),
    )
    # A blue-green's one step (its watch at 100%) is no canary: the rules about canary steps do not apply to it.
    canaries = [] if any(item.kind == "blue_green" for item in strategy) else canary_steps(strategy)
    renamed = [_renamed(p, positions) for p in _step_relation_problems({**fields, "steps": canaries})]
    return problems + [p for p in renamed if p not in problems]


def _criteria_alpha(criteria: object) -> float | None:
    """``criteria.alpha`` when the criteria are valid (a default spec's too), else None: the A/B budget rule waits."""
    return criteria.alpha if isinstance(criteria, Criteria) else None


def _custom_names(criteria: object) -> set[str] | None:
    """The custom metrics the spec judges, when its criteria are valid: an A/B test may name its winner on one."""
    return {c.metric for c in criteria.custom} if isinstance(criteria, Criteria) else None


def _renamed(problem: str, positions: Sequence[int]) -> str:
    """``steps[i].x: ...`` as ``strategy[j].x: ...``, j being where the i-th canary item sits."""
    if not problem.startswith("steps["):
        return problem
    index, _, rest = problem[len("steps[") :].partition("]")
    return f"strategy[{positions[int(index)]}]{rest}" if index.isdigit() and int(index) < len(positions) else problem


def _step_relation_problems(fields: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    items: list[Step | None] = fields.get("steps") or fields.get("_step_items") or []
    steps = [step for step in items if step is not None]
    approvals: ApprovalPolicy | None = fields.get("approvals")
    for index in range(1, len(items)):
        before, step = items[index - 1], items[index]
        if before is None or step is None:
            continue
        if before.segments and not step.segments:
            continue  # from some users to a share of everyone: shares of different populations do not compare
        if step.segments and not before.segments:
            problems.append(
                f"steps[{index}].segments: a step cannot narrow to segments after a step that exposed everyone"
            )
        elif same_segments(before.segments, step.segments) and step.weight <= before.weight:
            problems.append(
                f"steps[{index}].weight: weights must strictly increase ({before.weight:g} then {step.weight:g})"
            )
    for index, maybe in enumerate(items):
        if maybe is not None and maybe.weight >= 100 and not maybe.segments:
            problems.append(
                f"steps[{index}].weight: 100 without segments is the promotion that follows the last step; a "
                "step's share of everyone is below 100"
            )
        if maybe is not None and maybe.observe <= timedelta():
            problems.append(f"steps[{index}].observe: must be longer than 0 (got {format_duration(maybe.observe)})")
    if any(step.approval for step in steps) and "approvals" in fields and approvals is None:
        problems.append("approvals: missing, but a step asks for approval")
    interval: timedelta | None = fields.get("analysis_interval")
    if interval is not None:
        if interval <= timedelta():
            problems.append(f"analysis_interval: must be longer than 0 (got {format_duration(interval)})")
        elif (positive := [step.observe for step in steps or [] if step.observe > timedelta()]) and interval > min(
            positive
        ):
            shortest = min(positive)
            problems.append(
                f"analysis_interval: {format_duration(interval)} is longer than the shortest step "
                f"({format_duration(shortest)}), which would then never be analysed"
            )
    inconclusive: InconclusivePolicy | None = fields.get("on_inconclusive")
    if (
        interval is not None
        and inconclusive is not None
        and inconclusive.extend_by is not None
        and inconclusive.extend_by < interval
    ):
        problems.append(
            f"on_inconclusive.extend_by: {format_duration(inconclusive.extend_by)} is shorter than "
            f"analysis_interval ({format_duration(interval)}), so an extension could end before its first analysis"
        )
    if approvals is not None:
        distinct = set(approvals.approvers)
        if len(distinct) != len(approvals.approvers):
            problems.append("approvals.approvers: lists a name more than once")
        if approvals.quorum > len(distinct):
            problems.append(
                f"approvals.quorum: {approvals.quorum} is more than the {len(distinct)} distinct approvers listed"
            )
        elif (requester := fields.get("requested_by")) in distinct and approvals.quorum > len(distinct - {requester}):
            problems.append(
                f"approvals: requested_by {preview(requester)} never counts as an approver, so the other "
                f"{len(distinct - {requester})} approver(s) cannot reach quorum {approvals.quorum}"
            )
        if approvals.timeout <= timedelta():
            problems.append("approvals.timeout: must be longer than 0")
    stable: VersionRef | None = fields.get("stable")
    candidate: VersionRef | None = fields.get("candidate")
    if stable and candidate and stable.version == candidate.version:
        problems.append(f"candidate.version: same as stable ({stable.version!r})")
    if all(name in fields for name in ("target", "router", "metrics")):
        problems += _target_problems(fields["target"], fields["router"], fields["metrics"])
    shadow: ShadowSpec | None = fields.get("shadow")
    if shadow is not None and (shadow.replay is None) == (shadow.requests_file is None):
        problems.append(
            "shadow.replay: set exactly one of replay (a replay set of the target) and requests_file (inline "
            "targets only)"
        )
    if fields.get("shadow") is not None:
        for side, ref in (("stable", stable), ("candidate", candidate)):
            if ref is not None and ref.endpoint is None:
                problems.append(f"{side}.endpoint: missing, but shadow comparison needs it")
    for index, _, _ in replay_positions(fields.get("strategy"))[:1]:
        for side, ref in (("stable", stable), ("candidate", candidate)):
            if ref is not None and ref.endpoint is None:
                problems.append(f"{side}.endpoint: missing, but the shadow item strategy[{index}] needs it")
    if fields.get("eval") is not None:
        for side, ref in (("stable", stable), ("candidate", candidate)):
            if ref is not None and ref.endpoint is None:
                problems.append(f"{side}.endpoint: missing, but the eval gate needs it")
        if fields.get("target") is None and "target" in fields:
            problems.append("eval.suite: the eval gate runs one of a named target's eval_suites; name a target")
    return problems


def _target_problems(target: str | None, router: object, metrics: object) -> list[str]:
    """A spec names an operators' target, or (labs) carries a router and metrics inline: one or the other."""
    if target is not None and (router is not None or metrics is not None):
        inline = " and ".join(name for name, value in (("router", router), ("metrics", metrics)) if value is not None)
        return [f"{inline.split(' ')[0]}: a spec that names a target ({target!r}) carries no {inline} of its own"]
    if target is None and (router is None or metrics is None):
        missing = " and ".join(name for name, value in (("router", router), ("metrics", metrics)) if value is None)
        if router is None and metrics is None:
            return ['target: missing: name one of the operators\' targets (e.g. "target": "production")']
        return [f"{missing}: missing: an inline target needs both router and metrics (or name a target instead)"]
    return []


# ---------------------------------------------------------------- entry points


def validate_spec(data: object) -> RolloutSpec:
    """Parse a raw JSON object (or its text) into a spec, or raise ``SpecError`` naming the bad fields and why.

    Checks, in order: the size of the text (at most ``MAX_SPEC_BYTES``), that it is a JSON object, the size,
    nesting and key types of the object, then every field and the relations between fields. The work is bounded
    by the size cap, and every problem starts with a field's path or ``(spec)``.
    """
    if isinstance(data, str | bytes):
        data = _load_json(data)
    if not isinstance(data, Mapping):
        raise SpecError([f"(spec): expected a JSON object, got {type(data).__name__[:PREVIEW_CHARS]}"])
    if problems := _raw_problems(data):
        raise SpecError(problems)
    data = dict(data)
    try:
        spec = RolloutSpec.model_validate(data)
    except ValidationError as exc:
        problems = _describe_all(exc.errors(include_url=False))
        problems += [p for p in _relation_problems(_parsed_fields(data)) if p not in problems]
        raise SpecError(problems) from None
    problems = _relation_problems({name: getattr(spec, name) for name in RolloutSpec.model_fields})
    if problems:
        raise SpecError(problems)
    return spec
