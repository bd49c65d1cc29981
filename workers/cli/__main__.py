"""``rollouts``: sign and send decisions about a running rollout, and sign specs.

    rollouts approve <workflow-id> --key ~/.ssh/id_ed25519 [--reason TEXT] [--yes]
    rollouts reject  <workflow-id> --key KEY --reason TEXT [--yes]
    rollouts promote <workflow-id> --key KEY --reason TEXT [--yes]
    rollouts skip    <workflow-id> --to N --key KEY --reason TEXT [--yes]
    rollouts full    <workflow-id> --key KEY --reason TEXT [--yes]
    rollouts abort   <workflow-id> --reason TEXT [--key KEY] [--as NAME]
    rollouts pause | resume <workflow-id> [--key KEY] [--as NAME]
    rollouts kill    <service> --reason TEXT [--key KEY] [--as NAME] [--workflow-id ID] [--wait 60s]
    rollouts sign-spec <spec.json> --key KEY [--output FILE]
    rollouts drill schedule <service> --every 7d [--target NAME] [--paused]
    rollouts drill run <service> [--target NAME]
    rollouts pipeline start FILE [--key KEY] [--wait] | override FILE --key KEY --reason TEXT
    rollouts pipeline promote <service> --stage NAME --key KEY [--reason TEXT] [--yes] | status <service>

Connection settings come from the same variables as the worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and
API key variables); ``--address`` overrides the address. The principal is ``--as``, else the key's comment
(``ssh-keygen -C you@example.com``). Before signing a decision (approve, reject, promote, skip, full) the command
prints what is signed (rollout, service, versions, step and weight, evidence, text, expiry) on stderr and asks
``Sign this approval? [y/N]`` at a terminal; ``--yes`` signs without asking, and without a terminal it is
required. ``kill`` is the kill switch: the abort of the service's rollout (workflow id ``rollout-<service>`` unless
``--workflow-id``), then it waits for the rollback and prints what the router verified (everyone on stable).
Exit codes: 0 done, 1 refused or failed, 2 bad arguments (or not confirmed without a terminal).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from models.durations import parse_duration
from workers.cli import drills, pipeline
from workers.cli.decisions import (
    Decision,
    NotConfirmed,
    Signer,
    binding_from,
    confirm,
    payload_for,
    principal_of,
    read_rollout,
    summary,
)
from workers.cli.signing import SigningError, expiry, ssh_sign
from workers.client import connect
from workers.settings import Settings, SettingsError
from workflows.rollout.state import RolloutResult
from workflows.signatures import canonical_spec

DECISIONS: tuple[Decision, ...] = ("approve", "reject", "promote", "skip", "full", "abort", "pause", "resume")
NEEDS_KEY = frozenset({"approve", "reject", "promote", "skip", "full"})
NEEDS_REASON = frozenset({"reject", "promote", "skip", "full", "abort"})
HELP = {"skip": "skip a running rollout to a later step", "full": "send a running rollout's candidate to 100% now"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollouts", description="Signed decisions about durable rollouts.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in DECISIONS:
        sub = commands.add_parser(name, help=HELP.get(name, f"{name} a running rollout"))
        sub.add_argument("workflow_id", help="the rollout's workflow id, e.g. rollout-support-assistant")
        sub.add_argument("--key", type=Path, required=name in NEEDS_KEY, help="your SSH private key (or .pub)")
        sub.add_argument("--as", dest="principal", help="your principal in the policy (default: the key's comment)")
        sub.add_argument("--reason", required=name in NEEDS_REASON, help="why, for the record (signed with it)")
        sub.add_argument("--valid-for", default="15m", help="how long the signature stays good (default 15m)")
        sub.add_argument("--address", help="Temporal frontend address (default: TEMPORAL_ADDRESS)")
        if name == "skip":
            sub.add_argument("--to", type=int, required=True, help="1-based step to land on (it runs in full)")
        if name in NEEDS_KEY:
            sub.add_argument("--yes", action="store_true", help="sign without asking (needed without a terminal)")
    kill = commands.add_parser("kill", help="kill switch: abort the service's rollout, wait until stable is verified")
    kill.add_argument("service", help="the service whose candidate to turn off for everyone")
    kill.add_argument("--workflow-id", help="the rollout's workflow id (default rollout-<service>)")
    kill.add_argument("--key", type=Path, help="your SSH private key (or .pub)")
    kill.add_argument("--as", dest="principal", help="your principal in the policy (default: the key's comment)")
    kill.add_argument("--reason", required=True, help="why, for the record")
    kill.add_argument("--valid-for", default="15m", help="how long the signature stays good (default 15m)")
    kill.add_argument("--wait", default="60s", help="how long to wait for the verified rollback (default 60s)")
    kill.add_argument("--address", help="Temporal frontend address (default: TEMPORAL_ADDRESS)")
    sign = commands.add_parser("sign-spec", help="sign a rollout spec as its requester")
    sign.add_argument("spec", type=Path)
    sign.add_argument("--key", type=Path, required=True)
    sign.add_argument("--output", type=Path, help="where to write the signed spec (default: stdout)")
    sign.add_argument(
        "--workflow-id",
        help="the workflow id the spec may start (default: the spec's workflow_id, else rollout-<service>)",
    )
    sign.add_argument("--valid-for", default="24h", help="how long the spec may start a rollout (default 24h)")
    drills.add_parser(commands)
    pipeline.add_parser(commands)
    return parser


def _principal(args: argparse.Namespace) -> str:
    principal: str | None = args.principal or (principal_of(args.key) if args.key else None)
    if not principal:
        raise SystemExit("rollouts: say who you are with --as NAME (the key has no comment to take it from)")
    return principal


async def _decide(args: argparse.Namespace) -> int:
    killing = args.command == "kill"
    if killing:
        args.workflow_id = args.workflow_id or f"rollout-{args.service}"
    decision: Decision = "abort" if killing else args.command
    connected = await _connect(args, decision)
    if connected is None:
        return 1
    client, _ = connected
    handle = client.get_workflow_handle(args.workflow_id, result_type=RolloutResult)
    who = _principal(args)
    signer = None if args.key is None else Signer(who, args.key, parse_duration(args.valid_for))
    try:
        record, status = await read_rollout(handle)
        to = getattr(args, "to", None)
        binding = binding_from(handle.id, decision, record, status, to=to)
        expires = None if signer is None else expiry(signer.valid_for)
        if decision in NEEDS_KEY and signer is not None and expires is not None:
            text = args.reason if to is None else f"to step {to}: {args.reason}"
            print(summary(decision, record, status, who=who, text=text, expires=expires), file=sys.stderr)
            confirm(decision, yes=args.yes, interactive=sys.stdin.isatty(), ask=_ask)
        payload: dict[str, Any] = payload_for(
            decision, binding, signer, who=who, text=args.reason, expires=expires, to=to
        )
        answer = await handle.execute_update(decision, payload, result_type=str)
    except NotConfirmed as exc:
        print(f"rollouts {decision}: {exc}; nothing was sent", file=sys.stderr)
        return 2
    except WorkflowUpdateFailedError as exc:
        print(f"refused: {exc.cause}", file=sys.stderr)
        return 1
    except (RPCError, ValueError, SigningError) as exc:
        print(f"rollouts {decision}: {exc}", file=sys.stderr)
        return 1
    print(answer)
    return await _verified_on_stable(handle, parse_duration(args.wait).total_seconds()) if killing else 0


async def _verified_on_stable(handle: WorkflowHandle[Any, RolloutResult], wait: float) -> int:
    """The kill switch's proof: the rollback ended with the router confirming everyone on stable."""
    try:
        async with asyncio.timeout(wait):
            result = await handle.result()
    except TimeoutError:
        print(f"rollouts kill: no verified rollback within {wait:g}s; see the rollout's status", file=sys.stderr)
        return 1
    except (WorkflowFailureError, RPCError) as exc:
        print(f"rollouts kill: the rollout did not end cleanly: {exc}", file=sys.stderr)
        return 1
    rollback = result.record.rollback
    if rollback is None or not rollback.router_verified:
        print(f"rollouts kill: ended {result.record.outcome} without a verified rollback", file=sys.stderr)
        return 1
    took = "" if rollback.duration_seconds is None else f" in {1000 * rollback.duration_seconds:.0f} ms"
    print(f"everyone on stable: the router confirmed candidate 0%{took}")
    return 0


def _ask(question: str) -> str:
    """The person's answer, read at the terminal; the question goes to stderr with the summary."""
    print(question, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline()


def _sign_spec(args: argparse.Namespace) -> int:
    try:
        document = json.loads(args.spec.read_text())
        if not isinstance(document, dict):
            raise ValueError(f"{args.spec}: a spec is a JSON object")
        document.pop("signature", None)
        document["workflow_id"] = (
            args.workflow_id or document.get("workflow_id") or f"rollout-{document.get('service')}"
        )
        document["not_after"] = expiry(parse_duration(args.valid_for))
        signature = ssh_sign(canonical_spec(document), args.key)
    except (OSError, ValueError, SigningError) as exc:
        print(f"rollouts sign-spec: {exc}", file=sys.stderr)
        return 1
    signer = principal_of(args.key)
    if signer and signer != document.get("requested_by"):
        print(
            f"note: the key's comment is {signer!r}, requested_by is {document.get('requested_by')!r}", file=sys.stderr
        )
    signed = json.dumps({**document, "signature": signature}, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(signed)
    else:
        args.output.write_text(signed)
    return 0


async def _connect(args: argparse.Namespace, command: str) -> tuple[Client, Settings] | None:
    """A client for the command (``--address`` over the environment), or None once the reason is printed."""
    settings = Settings.from_env()
    if args.address:
        settings = dataclasses.replace(settings, address=args.address)
    try:
        return await connect(settings), settings
    except RuntimeError as exc:
        print(f"rollouts {command}: cannot reach Temporal at {settings.address}: {exc}", file=sys.stderr)
        return None


async def _drill(args: argparse.Namespace) -> int:
    connected = await _connect(args, "drill")
    if connected is None:
        return 1
    client, settings = connected
    try:
        return await drills.main(client, args, settings.task_queue)
    except RPCError as exc:
        print(f"rollouts drill: {exc}", file=sys.stderr)
        return 1


async def _pipeline(args: argparse.Namespace) -> int:
    connected = await _connect(args, "pipeline")
    if connected is None:
        return 1
    client, settings = connected
    try:
        return await pipeline.main(client, args, settings.task_queue, _ask)
    except (RPCError, SigningError) as exc:
        print(f"rollouts pipeline: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Run one command; see the module docstring for the exit codes."""
    args = _parser().parse_args(argv)
    if args.command == "sign-spec":
        return _sign_spec(args)
    try:
        if args.command == "drill":
            return asyncio.run(_drill(args))
        if args.command == "pipeline":
            return pipeline.override(args) if not pipeline.needs_client(args) else asyncio.run(_pipeline(args))
        return asyncio.run(_decide(args))
    except SettingsError as exc:
        print(f"rollouts: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """The console script: exit without interpreter finalization once the command is done.

    The Temporal client's native runtime threads may still release the GIL while the interpreter finalizes,
    which aborts the process after the answer was printed (seen as exit codes 134 and 139 on 1 run in 4).
    Everything is flushed first; nothing is left to clean up by then.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
