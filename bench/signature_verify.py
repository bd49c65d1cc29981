"""What verifying a signed decision costs in a handler: ``python -m bench.signature_verify [--count 2000]``.

Each verification runs in the update handler or signal handler of a workflow task (and again on every replay),
so it must stay far below a workflow task's budget. Keys are generated with ssh-keygen; the figure per key type
is the median and p99 of ``verify_signed`` over ``count`` calls of the same signed approval, with the policy's
key lookup included. Measure on an idle machine: under load the figures only bound the cost from above.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from models.policy import PolicyError, resolve
from tests.signing import make_person
from workflows.signatures import Binding, decision_message, verify_signed

BINDING = Binding("rollout-bench", "run", "approve", 1, "c" * 64)


def measure(kind: str, count: int, directory: Path) -> tuple[float, float]:
    """Median and p99 microseconds of one verification with a key of ``kind``."""
    person = make_person(directory, f"bench-{kind}", kind=kind)
    raw = json.dumps({"allowed_signers": [person.allowed()], "default": {"approvers": [person.principal]}}).encode()
    policy = resolve(raw, source="bench", service="bench")
    assert policy is not None
    message = decision_message(BINDING, principal=person.principal, text="ok", expires="2030-01-01T00:00:00Z")
    signature = person.sign(message)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        verdict = verify_signed(message, signature, principal=person.principal, policy=policy)
        times.append((time.perf_counter() - start) * 1e6)
        assert verdict.__class__.__name__ == "Verified"
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def main() -> None:
    """Print one line per key type."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        for kind in ("ed25519", "ecdsa", "rsa"):
            try:
                median, p99 = measure(kind, args.count, Path(directory))
            except PolicyError as exc:
                print(f"{kind:8} a policy listing it does not load: {exc}")
                continue
            print(f"{kind:8} median {median:7.1f} µs   p99 {p99:7.1f} µs   ({args.count} verifications)")


if __name__ == "__main__":
    main()
