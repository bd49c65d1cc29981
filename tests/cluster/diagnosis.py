"""What a failed cluster test prints, so that CI's output alone says why: each rollout that went wrong with its
failure chain, and the warnings and errors of every worker (the image's container included) and server instance.

A clean-clone CI run once failed this test after 50 s with nothing in its output but the exception's type; the cause
(a continued run refusing its own state) was in one worker's log, found only because the CI directory was kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tests.cluster.cluster import Cluster

SERVICES = ("frontend-1", "history-1", "history-2", "matching-1", "matching-2", "worker-1")
"""The cluster's instances (deploy/cluster/start.sh with two history and two matching instances)."""
LINE_CHARS = 400
"""Each quoted log line at most this long: a Go stack trace or a Python traceback is kept to its head."""


def failure_chain(exc: BaseException) -> str:
    """The exception and every cause under it, one per line: a workflow's failure names its type and reason below."""
    lines: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(lines) < 6:
        kind = getattr(seen, "type", None) or type(seen).__name__
        lines.append(f"{kind}: {str(seen)[:LINE_CHARS]}")
        seen = seen.__cause__
    return "\n    ".join(lines)


def _level(line: str) -> str:
    try:
        return str(json.loads(line).get("level", "")).lower()
    except (ValueError, AttributeError):  # the SDK core's plain lines, a Python traceback
        if "Traceback" in line or " ERROR" in line:
            return "error"
        return "warning" if " WARN" in line else ""


def problems(text: str, limit: int = 10) -> list[str]:
    """A log's last ``limit`` errors, then its last ``limit`` warnings (a failover's retries are many), shortened."""
    lines = [line for line in text.splitlines() if "HTTP Request" not in line]
    errors = [line[:LINE_CHARS] for line in lines if _level(line) in ("error", "critical", "fatal", "panic", "dpanic")]
    warnings = [line[:LINE_CHARS] for line in lines if _level(line) in ("warning", "warn")]
    return [*errors[-limit:], *(["(warnings)"] if warnings else []), *warnings[-limit:]]


def story(workflow_id: str, logs: Iterable[str], limit: int = 15) -> list[str]:
    """The last lines any worker logged about one rollout, in time order: what it did just before it went wrong."""
    found = []
    for text in logs:
        for line in text.splitlines():
            if "HTTP Request" in line or f'"{workflow_id}"' not in line:
                continue
            try:
                at = str(json.loads(line).get("timestamp", ""))
            except ValueError:
                at = ""
            found.append((at, line[:LINE_CHARS]))
    return [line for _, line in sorted(found)[-limit:]]


def section(title: str, lines: Iterable[str]) -> str:
    body = "\n".join(f"  {line}" for line in lines)
    return f"--- {title}\n{body or '  (nothing)'}"


def report(
    *,
    what: str,
    wrong: list[tuple[str, str]],
    worker_logs: dict[str, str],
    cluster: Cluster,
) -> str:
    """The whole diagnosis: what went wrong (``wrong``: a line and the workflow id for each rollout), the first few
    rollouts' last log lines, then each worker's and each server instance's errors and warnings."""
    parts = [what, section("rollouts that went wrong", [w for w, _ in wrong])]
    for _, workflow_id in wrong[:3]:  # the first few in full: they usually share one cause
        parts.append(
            section(f"{workflow_id}: its last lines in the workers' logs", story(workflow_id, worker_logs.values()))
        )
    for name, text in worker_logs.items():
        parts.append(section(f"{name}: last warnings and errors", problems(text)))
    for service in SERVICES:
        log = cluster.state / "logs" / f"{service}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        parts.append(section(f"server {service}: last warnings and errors", problems(text, limit=5)))
    return "\n".join(parts)


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else f"(no log at {path})"
