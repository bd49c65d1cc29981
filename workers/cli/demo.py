"""``python -m workers.cli.demo KEY_DIR POLICY [TARGET]``: demo keys and the demo's policy, for ``make run``.

Generates an ed25519 key pair (no passphrase: a demo, never real use) for the requester and each approver of
``docs/examples/demo-rollout.json`` unless present, and writes a policy that lists them: signed decisions only,
a quorum of 2 required before promotion, the requester excluded as always, and the demo stand as the target
``demo`` when TARGET_FILE (written by ``python -m simulator.demo``) is given. Prints nothing but errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REQUESTER = "ml-engineer"
APPROVERS = ("ml-lead", "sre-oncall", "product-owner")
SERVICE = "support-assistant"


def demo_keys(directory: Path) -> dict[str, Path]:
    """One private key per demo person, generated on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    keys: dict[str, Path] = {}
    for name in (REQUESTER, *APPROVERS):
        key = directory / name
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
        keys[name] = key
    return keys


def demo_policy(keys: dict[str, Path], target: dict[str, object] | None = None) -> dict[str, object]:
    """The demo's policy: every key listed in our namespace; the three approvers, quorum 2, signed only.

    ``target`` is the demo stand as its operators define it (``simulator.demo`` writes it): the spec names it
    ``demo`` and never carries nginx's paths or Prometheus' address itself.
    """
    lines = []
    for name, key in keys.items():
        kind, blob = key.with_name(key.name + ".pub").read_text().split()[:2]
        lines.append(f'{name} namespaces="durable-rollouts" {kind} {blob}')
    return {
        "allowed_signers": lines,
        "services": {
            SERVICE: {
                "approvers": list(APPROVERS),
                "quorum": 2,
                "max_signature_validity": "1h",
                "require_approvals": {"before_promotion": True},
                "targets": {} if target is None else {"demo": target},
                # Rollback drills (docs/drills.md): the demo stand, stable re-applied and verified within 5s.
                **({} if target is None else {"drill": {"target": "demo", "target_seconds": 5}}),
            },
        },
    }


def main(argv: list[str]) -> int:
    """Write the keys and the policy; exit 2 on wrong arguments."""
    if len(argv) not in {2, 3}:
        print("usage: python -m workers.cli.demo KEY_DIR POLICY_FILE [TARGET_FILE]", file=sys.stderr)
        return 2
    keys = demo_keys(Path(argv[0]))
    target = json.loads(Path(argv[2]).read_text()) if len(argv) == 3 else None
    Path(argv[1]).write_text(json.dumps(demo_policy(keys, target), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
