"""``python -m simulator.demo``: the real-traffic world of ``make run``.

Two model servers (stable v1, candidate v2), nginx routing between them, Prometheus scraping both, and a load
generator sending steady traffic through nginx, until SIGINT/SIGTERM. Writes the demo rollout's spec, pointed at
these processes, to ``--spec-out``; prints one JSON line when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

from simulator.eval_suite import suite_entry
from simulator.loadgen import run_load
from simulator.stand import Stand, run_stand

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "docs" / "examples" / "demo-rollout.json"
PIPELINE_TEMPLATE = ROOT / "docs" / "examples" / "demo.pipeline.json"


DEMO_TARGET = "demo"
DEMO_RPS = 1500.0
"""Requests per second through nginx: enough for the real judge to pass each step on evidence within its
observe time or one extension (about 40,000-110,000 candidate requests a step at a 0.1 % error rate), and what
two cores carry beside the dev server, the worker and Prometheus."""
DEMO_USERS = 100_000
"""Distinct ``X-User-Id`` values of the load: nginx splits by a hash of the user, and with the load generator's
default 1,000 users the 50% step sent 10% more requests to the candidate than to stable (176,522 against
160,610), which on a busy machine made its real p95 a bucket slower. 100,000 users split within about 0.5%."""
LATENCY = {"latency_p50_ms": 20.0, "latency_p95_ms": 48.0}
"""The demo service's latency (both versions). The p95 test can pass only when stable's p95 lies inside a bucket,
away from its edges (docs/rollouts.md): with the stand's default 50 ms p95, a quiet machine measured 50.5 ms, on
the 50.59 ms edge, and the 25% step was held for 6 minutes with both p95s equal. 48 ms (plus the server's own
fraction of a millisecond) sits mid-bucket between the 47.07 and 50.59 ms edges."""
ERROR_RATES = {"stable": 0.001, "healthy": 0.001, "regressed": 0.003}
"""The demo service's error rates: 0.1 % on a healthy version, 3x that on a regressed candidate."""
REPLAY = ROOT / "docs" / "examples" / "demo-requests.jsonl"
"""The demo's recorded requests: 600 (the 15 support questions over many users and locales). The shadow gate
compares the two versions' p95 on what it replays; on the 60 requests of support-requests.jsonl that p95 is one
of the slowest three, and a healthy candidate failed the gate on noise (65.8 vs 53.7 ms) in a CI run."""


def demo_target(stand: Stand) -> dict[str, Any]:
    """This stand as the operators define it in the demo's policy: nginx, Prometheus, the servers, a replay set.

    With the simulator's eval suite, graded by the stable server's ``/grade``: the demo pipeline's staging
    stage runs it for real before any traffic moves.
    """
    return {
        **stand.target(**{"support-requests": str(REPLAY)}),
        "eval_suites": suite_entry(f"{stand.stable.url}/grade"),
    }


def demo_spec(stand: Stand) -> dict[str, Any]:
    """The shipped demo spec as it is (steps, criteria: what a user copies), with its endpoints on this stand.

    Its steps fit ``DEMO_RPS`` of real traffic: docs/rollouts.md ("The demo's traffic") has the arithmetic.
    """
    assert stand.prometheus is not None
    spec: dict[str, Any] = json.loads(TEMPLATE.read_text())
    spec["stable"]["endpoint"] = f"{stand.stable.url}/v1/answer"
    spec["candidate"]["endpoint"] = f"{stand.candidate.url}/v1/answer"
    spec["target"] = DEMO_TARGET
    return spec


def demo_pipeline(stand: Stand) -> dict[str, Any]:
    """The shipped demo pipeline spec (staging, then production after a signed promotion) on this stand."""
    spec: dict[str, Any] = json.loads(PIPELINE_TEMPLATE.read_text())
    spec["stable"]["endpoint"] = f"{stand.stable.url}/v1/answer"
    spec["candidate"]["endpoint"] = f"{stand.candidate.url}/v1/answer"
    return spec


def pipeline_file(spec_out: Path) -> Path:
    """Where the demo writes its pipeline spec, beside the rollout's, for ``rollouts pipeline start``."""
    return spec_out.with_name("demo-pipeline.json")


def target_file(spec_out: Path) -> Path:
    """Where the demo writes its target, beside the spec, for ``python -m workers.cli.demo``."""
    return spec_out.with_name(spec_out.stem + "-target.json")


def write_spec(path: Path, spec: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2))


async def serve(spec_out: Path, *, candidate: str, rps: float) -> None:
    candidate_knobs = {"error_rate": ERROR_RATES[candidate], **LATENCY}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with run_stand(stable={"error_rate": ERROR_RATES["stable"], **LATENCY}, candidate=candidate_knobs) as stand:
        # The target first: make run puts it into the operators' policy once the spec appears.
        await asyncio.to_thread(write_spec, target_file(spec_out), demo_target(stand))
        await asyncio.to_thread(write_spec, pipeline_file(spec_out), demo_pipeline(stand))
        await asyncio.to_thread(write_spec, spec_out, demo_spec(stand))
        assert stand.prometheus is not None
        print(
            json.dumps(
                {
                    "event": "ready",
                    "nginx": stand.nginx.answer_url,
                    "prometheus": stand.prometheus.url,
                    "stable": stand.stable.url,
                    "candidate": stand.candidate.url,
                    "spec": str(spec_out),
                }
            ),
            flush=True,
        )
        load = asyncio.create_task(
            run_load(stand.nginx.answer_url, rps=rps, users=DEMO_USERS, duration=24 * 3600, stop=stop)
        )
        await stop.wait()
        with contextlib.suppress(asyncio.CancelledError):
            summary = await load
            print(summary.model_dump_json(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator.demo", description=__doc__)
    parser.add_argument("--spec-out", type=Path, default=ROOT / ".run" / "demo-spec.json")
    parser.add_argument("--candidate", choices=["healthy", "regressed"], default="healthy")
    parser.add_argument("--rps", type=float, default=DEMO_RPS)
    args = parser.parse_args()
    asyncio.run(serve(args.spec_out, candidate=args.candidate, rps=args.rps))


if __name__ == "__main__":
    main()
