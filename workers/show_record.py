"""``python -m workers.show_record WORKFLOW_ID``: wait for a rollout and print its deployment record as Markdown."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from temporalio.client import WorkflowFailureError

from workers.client import connect
from workers.settings import Settings
from workflows.rollout.state import RolloutResult


async def show(workflow_id: str, address: str | None) -> int:
    """Wait for the rollout and print its record; exit code 1 with the cause when the workflow itself failed.

    A rolled-back rollout has still completed and has a record: only a workflow failure (a bug, a termination)
    leaves nothing to print.
    """
    settings = Settings.from_env()
    if address:
        settings = Settings(**{**settings.__dict__, "address": address})
    client = await connect(settings)
    try:
        result = await client.get_workflow_handle(workflow_id, result_type=RolloutResult).result()
    except WorkflowFailureError as exc:
        print(f"rollout {workflow_id} failed: {exc.cause}")
        return 1
    print(result.markdown)
    return 0


def main() -> int:
    """Command-line entry point; the module docstring doubles as the ``--help`` text."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workflow_id")
    parser.add_argument("--address", default=None, help="Temporal frontend (default: TEMPORAL_ADDRESS)")
    args = parser.parse_args()
    return asyncio.run(show(args.workflow_id, args.address))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter teardown: the SDK's native threads can abort a finalizing interpreter (exit 134), which
    # would turn a printed record into a failed `make run`.
    os._exit(code)
