"""Which target a rollout runs on, and whether every address the spec names lies inside it. Pure.

The spec names one of the operators' targets; its router and metrics come from the policy, and each URL the spec
itself carries (version endpoints for the shadow comparison, the preflight URL) must lie under one of the
target's ``url_prefixes``; a shadow comparison replays one of the target's ``replay_sets``, by name. A spec's own
router, metrics or request file (an inline target) runs only where the policy allows inline targets, or on a worker
its operator started in lab mode with no policy at all. Every refusal names the spec's field.
"""

from __future__ import annotations

from models.custom_metrics import criteria_problems
from models.policy import GoverningPolicy
from models.spec import RolloutSpec
from models.strategy import ab_metric_problems, replay_positions
from models.targets import ChosenTarget, Target, url_allowed
from workflows.capabilities import capability_problems

LAB_MODE_HINT = "ROLLOUTS_LAB_MODE=true"


def choose_target(spec: RolloutSpec, governing: GoverningPolicy | None, *, lab_mode: bool) -> ChosenTarget | list[str]:
    """The target the rollout may run on, or every reason it may not (each starting with the spec's field)."""
    if spec.target is not None:
        return _named(spec, spec.target, governing)
    return _inline(spec, governing, lab_mode=lab_mode)


def _named(spec: RolloutSpec, name: str, governing: GoverningPolicy | None) -> ChosenTarget | list[str]:
    if governing is None:
        return [
            f"target: {name!r} cannot be found: this worker has no policy for service {spec.service!r}, and targets "
            "are defined in the policy (ROLLOUTS_POLICY_PATH)"
        ]
    targets = governing.policy.targets
    if name not in targets:
        known = ", ".join(sorted(targets)) or "none"
        return [f"target: {name!r} is not a target of {spec.service!r} in policy {governing.scope} (targets: {known})"]
    target = targets[name]
    problems = _addresses(spec, target, name) + capability_problems(spec, target.router, f"target {name!r}")
    problems += criteria_problems(spec.criteria.custom, target.custom_metrics, f"target {name!r}")
    problems += ab_metric_problems(spec.strategy, target.custom_metrics, f"target {name!r}")
    if problems:
        return problems
    return ChosenTarget(name=name, origin="policy", target=target)


def _addresses(spec: RolloutSpec, target: Target, name: str) -> list[str]:
    """Each URL and file the spec names must be one the target allows."""
    allowed = ", ".join(target.url_prefixes) or "none"
    problems: list[str] = []
    urls = [("stable.endpoint", spec.stable.endpoint), ("candidate.endpoint", spec.candidate.endpoint)]
    if spec.preflight is not None:
        urls.append(("preflight.url", spec.preflight.url))
    for field, url in urls:
        if url is not None and not url_allowed(url, target.url_prefixes):
            problems.append(f"{field}: {url[:120]} is not under a URL that target {name!r} allows ({allowed})")
    if spec.shadow is not None:
        if spec.shadow.requests_file is not None:
            problems.append(
                "shadow.requests_file: a spec may not choose a file on the worker; name one of target "
                f"{name!r}'s replay sets in shadow.replay ({', '.join(sorted(target.replay_sets)) or 'none'})"
            )
        elif spec.shadow.replay is not None and spec.shadow.replay not in target.replay_sets:
            problems.append(
                f"shadow.replay: {spec.shadow.replay!r} is not a replay set of target {name!r} "
                f"({', '.join(sorted(target.replay_sets)) or 'none'})"
            )
    for index, replay, _ in replay_positions(spec.strategy):
        if replay not in target.replay_sets:
            problems.append(
                f"strategy[{index}].replay: {replay!r} is not a replay set of target {name!r} "
                f"({', '.join(sorted(target.replay_sets)) or 'none'})"
            )
    if spec.eval is not None and spec.eval.suite not in target.eval_suites:
        problems.append(
            f"eval.suite: {spec.eval.suite!r} is not an eval suite of target {name!r} "
            f"({', '.join(sorted(target.eval_suites)) or 'none'})"
        )
    return problems


def _inline(spec: RolloutSpec, governing: GoverningPolicy | None, *, lab_mode: bool) -> ChosenTarget | list[str]:
    assert spec.router is not None and spec.metrics is not None  # validate_spec: a target, or both of these
    target = Target(router=spec.router, metrics=spec.metrics)
    problems = capability_problems(spec, spec.router, "the spec's router")
    # Custom metrics are the operators' definitions: an inline target has none a spec could name.
    problems += criteria_problems(spec.criteria.custom, {}, "an inline target (custom metrics live in a policy target)")
    if problems:
        return problems
    if governing is None:
        if not lab_mode:
            return [
                "router: an inline router and metrics run only on a worker in lab mode: this worker has no policy "
                f"for service {spec.service!r} (ROLLOUTS_POLICY_PATH) and is not in lab mode ({LAB_MODE_HINT})"
            ]
        return ChosenTarget(name=None, origin="inline-lab", target=target)
    if not governing.policy.allow_inline_targets:
        known = ", ".join(sorted(governing.policy.targets)) or "none defined"
        return [
            f"router: policy {governing.scope} does not allow a spec's own router and metrics; name one of the "
            f"operators' targets instead (target: {known})"
        ]
    if spec.shadow is not None and spec.shadow.replay is not None:
        return ["shadow.replay: an inline target has no replay sets; use a named target"]
    for index, _, _ in replay_positions(spec.strategy)[:1]:
        return [f"strategy[{index}].replay: an inline target has no replay sets; use a named target"]
    return ChosenTarget(name=None, origin="inline-policy", target=target)


def preflight_baseline_problem(spec: RolloutSpec, chosen: ChosenTarget) -> str | None:
    """Why the spec's preflight baseline does not stand: on an operators' target, the target locks it.

    The baseline is what the candidate is held to; a spec that chose it could lower the bar for its own candidate.
    Inline targets (labs, where the spec is its own operator) keep the spec's value.
    """
    if spec.preflight is None or chosen.origin != "policy":
        return None
    locked = chosen.target.preflight_baseline
    if locked is None:
        return (
            f"preflight.baseline: target {chosen.name!r} locks no preflight_baseline; the operators set the baseline "
            "score in the policy's target, so a spec cannot ask for a preflight gate there"
        )
    if spec.preflight.baseline != locked:
        return (
            f"preflight.baseline: {spec.preflight.baseline:g} differs from the baseline target {chosen.name!r} "
            f"locks ({locked:g})"
        )
    return None
