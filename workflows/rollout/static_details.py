"""``python -m workflows.rollout.static_details SPEC.json``: the plan, for ``temporal workflow start --static-details``.

Static Details are fixed when the workflow starts, so the starter (not the workflow) supplies them; this prints
the same Markdown the workflow would, from the spec file, or the spec's problems and exit status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from models.validation import SpecError, validate_spec
from workflows.rollout.view import plan


def main(argv: Sequence[str]) -> int:
    """Print the plan of the spec file named in ``argv``."""
    if len(argv) != 1:
        print("usage: python -m workflows.rollout.static_details SPEC.json", file=sys.stderr)
        return 2
    raw = json.loads(Path(argv[0]).read_text())
    try:
        spec = validate_spec(raw)
    except SpecError as exc:
        print("\n".join([exc.args[0], *exc.problems]), file=sys.stderr)
        return 1
    print(plan(spec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
