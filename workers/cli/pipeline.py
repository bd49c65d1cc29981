"""``rollouts pipeline``: start a pipeline from a spec file, promote it between stages, override, show its stages.

    rollouts pipeline start FILE [--key KEY] [--valid-for 24h] [--wait]
    rollouts pipeline override FILE --key KEY --reason TEXT [--valid-for 24h] [--output FILE]
    rollouts pipeline promote <service> --stage NAME --key KEY [--reason TEXT] [--yes]
    rollouts pipeline status <service>

``start`` signs the spec as its requester (``--key``: the signature stands for every stage's rollout, bound to
``pipeline-<service>`` and valid until ``--valid-for`` from now) and starts the ``Pipeline`` workflow under that
id. ``override`` adds a signed override to a spec whose candidate failed a stage before; the requester signs after
it, so the requester's signature covers the override too. ``promote`` signs a promotion into the stage waiting for
one, bound to this pipeline's first run, the stage and the spec's SHA-256, after showing what is signed.
``status`` prints the stages as a table. Signing reuses ``workers.cli.signing`` and the workflow's own message
builders (``workflows.signatures``), so the CLI and the workflow cannot disagree on what is signed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError

from models.durations import parse_duration
from models.pipeline import PipelineRecord, PipelineResult, override_digest, pipeline_id
from workers.cli.decisions import principal_of
from workers.cli.signing import expiry, ssh_sign
from workflows.pipeline import view
from workflows.pipeline.decisions import OVERRIDE_DECISION, PROMOTE_DECISION
from workflows.signatures import Binding, canonical_spec, decision_message


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``pipeline`` command and its subcommands."""
    pipeline = commands.add_parser("pipeline", help="pipelines: start, promote between stages, override, status")
    subs = pipeline.add_subparsers(dest="pipeline_command", required=True)
    start = subs.add_parser("start", help="sign a pipeline spec as its requester and start it")
    start.add_argument("spec", type=Path)
    start.add_argument("--key", type=Path, help="the requester's SSH key (omit only under a lab policy)")
    start.add_argument("--valid-for", default="24h", help="how long the signed spec may start (default 24h)")
    start.add_argument("--wait", action="store_true", help="wait for the pipeline's end and print its stages")
    override = subs.add_parser("override", help="sign an override into a spec whose candidate failed before")
    override.add_argument("spec", type=Path)
    override.add_argument("--key", type=Path, required=True)
    override.add_argument("--as", dest="principal", help="your principal (default: the key's comment)")
    override.add_argument("--reason", required=True, help="why this version may go again, for the record")
    override.add_argument("--valid-for", default="1h", help="how long the override stays good (default 1h)")
    override.add_argument("--output", type=Path, help="where to write the spec (default: over FILE)")
    promote = subs.add_parser("promote", help="sign the promotion into the stage waiting for one")
    promote.add_argument("service")
    promote.add_argument("--stage", required=True, help="the stage to promote into (the one waiting)")
    promote.add_argument("--key", type=Path, required=True)
    promote.add_argument("--as", dest="principal", help="your principal (default: the key's comment)")
    promote.add_argument("--reason", help="why, for the record (signed with it)")
    promote.add_argument("--valid-for", default="15m", help="how long the signature stays good (default 15m)")
    promote.add_argument("--yes", action="store_true", help="sign without asking (needed without a terminal)")
    status = subs.add_parser("status", help="the pipeline's stages as a table")
    status.add_argument("service")
    for sub in (start, promote, status):
        sub.add_argument("--address", help="Temporal frontend address (default: TEMPORAL_ADDRESS)")


def needs_client(args: argparse.Namespace) -> bool:
    """``override`` only edits a file; the others talk to Temporal."""
    return bool(args.pipeline_command != "override")


def override(args: argparse.Namespace) -> int:
    """Add a signed override to the spec file (the requester signs the whole spec after it, at start)."""
    try:
        document = _read(args.spec)
        who = args.principal or principal_of(args.key)
        if not who:
            raise ValueError("say who you are with --as NAME (the key has no comment to take it from)")
        document.pop("signature", None)
        document["workflow_id"] = pipeline_id(str(document.get("service")))
        expires = expiry(parse_duration(args.valid_for))
        binding = Binding(
            workflow_id=document["workflow_id"],
            run_id="-",
            decision=OVERRIDE_DECISION,
            step=None,
            criteria_sha256=override_digest(document),
        )
        message = decision_message(binding, principal=who, text=args.reason, expires=expires)
        document["override"] = {
            "by": who,
            "reason": args.reason,
            "expires": expires,
            "signature": ssh_sign(message, args.key),
        }
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"rollouts pipeline override: {exc}", file=sys.stderr)
        return 1
    (args.output or args.spec).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"override by {who} signed into {args.output or args.spec}; start it with rollouts pipeline start")
    return 0


async def main(client: Client, args: argparse.Namespace, task_queue: str, ask: Callable[[str], str]) -> int:
    """Run ``start``, ``promote`` or ``status``; 0 done, 1 refused or failed, 2 not confirmed."""
    if args.pipeline_command == "start":
        return await _start(client, args, task_queue)
    if args.pipeline_command == "promote":
        return await _promote(client, args, ask)
    record = await client.get_workflow_handle(pipeline_id(args.service)).query("status", result_type=PipelineRecord)
    print(view.details(record))
    return 0


async def _start(client: Client, args: argparse.Namespace, task_queue: str) -> int:
    try:
        document = _read(args.spec)
        if args.key is not None:
            document.pop("signature", None)
            document["workflow_id"] = pipeline_id(str(document.get("service")))
            document["not_after"] = expiry(parse_duration(args.valid_for))
            document["signature"] = ssh_sign(canonical_spec(document), args.key)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"rollouts pipeline start: {exc}", file=sys.stderr)
        return 1
    wid = pipeline_id(str(document.get("service")))
    handle = await client.start_workflow(
        "Pipeline",
        document,
        id=wid,
        task_queue=task_queue,
        result_type=PipelineResult,
    )
    print(f"started {wid} (run {handle.result_run_id})" + ("" if args.key else ", unsigned"))
    if not args.wait:
        return 0
    try:
        result = await handle.result()
    except WorkflowFailureError as exc:
        print(f"rollouts pipeline start: {wid} failed: {exc.cause}", file=sys.stderr)
        return 1
    print(result.markdown)
    return 0 if result.outcome == "promoted" else 1


async def _promote(client: Client, args: argparse.Namespace, ask: Callable[[str], str]) -> int:
    handle = client.get_workflow_handle(pipeline_id(args.service))
    record = await handle.query("status", result_type=PipelineRecord)
    names = [s.name for s in record.stages]
    if args.stage not in names:
        print(f"rollouts pipeline promote: no stage {args.stage!r} (stages: {', '.join(names)})", file=sys.stderr)
        return 1
    index = names.index(args.stage)
    if record.stages[index].state != "awaiting_promotion":
        print(f"refused: stage {args.stage} is {record.stages[index].state}, not awaiting a promotion", file=sys.stderr)
        return 1
    who = args.principal or principal_of(args.key)
    if not who:
        print("rollouts pipeline promote: say who you are with --as NAME", file=sys.stderr)
        return 2
    expires = expiry(parse_duration(args.valid_for))
    print(_summary(record, index, who=who, text=args.reason, expires=expires), file=sys.stderr)
    if not args.yes:
        if not sys.stdin.isatty():
            print("not a terminal, so nobody can confirm: pass --yes to sign this promotion", file=sys.stderr)
            return 2
        if ask("Sign this promotion? [y/N] ").strip().lower() not in {"y", "yes"}:
            print("not signed; nothing was sent", file=sys.stderr)
            return 2
    binding = Binding(
        workflow_id=record.pipeline_id,
        run_id=record.first_run_id or record.run_id,
        decision=PROMOTE_DECISION,
        step=index + 1,
        criteria_sha256=record.spec_sha256,
    )
    message = decision_message(binding, principal=who, text=args.reason, expires=expires)
    payload: dict[str, Any] = {"approver": who, "expires": expires, "signature": ssh_sign(message, args.key)}
    if args.reason is not None:
        payload["reason"] = args.reason
    try:
        print(await handle.execute_update("promote", payload, result_type=str))
    except WorkflowUpdateFailedError as exc:
        print(f"refused: {exc.cause}", file=sys.stderr)
        return 1
    return 0


def _summary(record: PipelineRecord, index: int, *, who: str, text: str | None, expires: str) -> str:
    """What the person signs, in words: the pipeline, versions, the stage and what came before it."""
    before = ", ".join(f"{s.name} {s.state}" for s in record.stages[:index]) or "none"
    stage = record.stages[index]
    return "\n".join(
        [
            f"You are about to sign this promotion as {who}:",
            f"  pipeline:  {record.pipeline_id} (run {record.first_run_id or record.run_id})",
            f"  versions:  {record.stable.version} -> {record.candidate.version} (stable -> candidate)",
            f"  stage:     {index + 1} of {len(record.stages)}, {stage.name} on target {stage.target}",
            f"  before it: {before}",
            f"  reason:    {json.dumps(text or '', ensure_ascii=False)}",
            f"  expires:   {expires}",
        ]
    )


def _read(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a pipeline spec is a JSON object")
    return document
