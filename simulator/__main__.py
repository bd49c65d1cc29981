"""``python -m simulator``: the rollout tests' world on three loopback ports.

Prints one JSON line to stdout once every port is bound (with the actual ports when 0 was asked for), then
serves until SIGTERM or SIGINT and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from simulator.answer_port import AnswerApp
from simulator.control import ControlApp
from simulator.knobs import KnobsFile, validation_message
from simulator.serving import json_app, serving
from simulator.world import UnknownVersionError, World

_LOG = logging.getLogger("simulator")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--control-port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--stable-port", type=int, default=9101, help="0 picks a free port")
    parser.add_argument("--candidate-port", type=int, default=9102, help="0 picks a free port")
    parser.add_argument("--stable-version", default="v1")
    parser.add_argument("--candidate-version", default="v2")
    parser.add_argument("--knobs", type=Path, help='JSON file: {"rps": 200, "versions": {"v2": {...}}}')
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _url(host: str, port: int) -> str:
    return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"


async def serve(args: argparse.Namespace) -> None:
    """Build the world, bind the three ports, announce them and serve until a stop signal."""
    world = World(stable_version=args.stable_version, candidate_version=args.candidate_version, seed=args.seed)
    if args.knobs is not None:
        world.apply_knobs_file(KnobsFile.load(args.knobs))
    async with contextlib.AsyncExitStack() as stack:
        control_port, stable_port, candidate_port = [
            await stack.enter_async_context(serving(json_app(app.routes()), args.host, port))
            for app, port in (
                (ControlApp(world), args.control_port),
                (AnswerApp(world, world.stable_version), args.stable_port),
                (AnswerApp(world, world.candidate_version), args.candidate_port),
            )
        ]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ready = {
            "event": "ready",
            "pid": os.getpid(),
            "host": args.host,
            "control_port": control_port,
            "stable_port": stable_port,
            "candidate_port": candidate_port,
            "control_url": _url(args.host, control_port),
            "stable_url": _url(args.host, stable_port),
            "candidate_url": _url(args.host, candidate_port),
            "stable_version": world.stable_version,
            "candidate_version": world.candidate_version,
        }
        print(json.dumps(ready), flush=True)
        await stop.wait()
        _LOG.info("stopping")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="simulator %(levelname)s %(message)s")
    args = _parse_args(argv)
    try:
        asyncio.run(serve(args))
    except ValidationError as exc:
        print(f"simulator: invalid knobs: {validation_message(exc)}", file=sys.stderr)
        return 2
    except UnknownVersionError as exc:
        print(f"simulator: knobs name an unknown version: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
