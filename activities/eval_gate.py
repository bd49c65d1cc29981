"""The eval gate: run the operators' eval suite against stable's and the candidate's endpoints and grade both.

Every case's input is POSTed to both versions (bounded concurrency); a transient failure (transport error, 5xx,
429) is retried a few times before the case counts as failed for that version. Each graded case goes into the
heartbeat (with the suite's SHA-256 and the score so far), so an attempt that starts after a worker died skips
every case already graded. The workflow compares the scores with the locked baseline (``workflows/eval_gate.py``).

Errors: ``ProviderRejected`` for a suite that cannot be read (not retried: the operators must fix the file), and
``ProviderUnavailable`` when the candidate answered no case at all (retried by Temporal).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity

from activities.comparators import agrees
from activities.errors import ProviderRejected, ProviderUnavailable
from activities.http_errors import transport_problem
from models.evals import (
    MAX_CASE_BYTES,
    MAX_CATEGORIES,
    MAX_EVAL_CASES,
    MAX_FAILING_KEPT,
    MAX_PATTERN_CHARS,
    ArmScore,
    CaseVerdict,
    CompareGrader,
    EndpointGrader,
    EvalInput,
    EvalResult,
    EvalSuite,
    FailingCase,
    RegexGrader,
    heartbeat_details,
)

ATTEMPTS = 3
"""Tries per answer before a transient failure counts against the version (0.2s, then 0.4s between them)."""
MAX_SUITE_BYTES = 16 * 1024 * 1024


class EvalCase:
    """One line of a suite: the request, the expected answer, the category it counts in."""

    __slots__ = ("category", "expected", "id", "input")

    def __init__(self, id: str, category: str, input: Any, expected: Any) -> None:
        self.id, self.category, self.input, self.expected = id, category, input, expected


def load_suite(path: Path) -> tuple[str, list[EvalCase]]:
    """The suite's SHA-256 and its cases; a bad line is refused naming it (the operators' file must be whole)."""
    if not path.is_file():
        raise ProviderRejected(f"eval suite: no such file on the worker: {path.resolve()}")
    raw = path.read_bytes()
    if len(raw) > MAX_SUITE_BYTES:
        raise ProviderRejected(f"eval suite {path}: {len(raw):,} bytes, more than {MAX_SUITE_BYTES:,}")
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"eval suite {path.name} line {number}"
        if len(line) > MAX_CASE_BYTES:
            raise ProviderRejected(f"{where}: longer than {MAX_CASE_BYTES:,} characters")
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProviderRejected(f"{where}: not JSON: {exc}") from None
        if not isinstance(document, dict) or not {"id", "input", "expected"} <= document.keys():
            raise ProviderRejected(f"{where}: a case is an object with id, category, input and expected")
        case_id, category = document["id"], document.get("category", "default")
        if not isinstance(case_id, str) or not case_id or len(case_id) > 100 or case_id in seen:
            raise ProviderRejected(f"{where}: id must be a unique string of 1 to 100 characters")
        if not isinstance(category, str) or not category or len(category) > 100:
            raise ProviderRejected(f"{where}: category must be a string of 1 to 100 characters")
        seen.add(case_id)
        cases.append(EvalCase(case_id, category, document["input"], document["expected"]))
        if len(cases) > MAX_EVAL_CASES:
            raise ProviderRejected(f"eval suite {path.name}: more than {MAX_EVAL_CASES} cases")
    if not cases:
        raise ProviderRejected(f"eval suite {path.name}: no cases")
    if len({c.category for c in cases}) > MAX_CATEGORIES:
        raise ProviderRejected(f"eval suite {path.name}: more than {MAX_CATEGORIES} categories")
    return hashlib.sha256(raw).hexdigest(), cases


def grade_locally(suite: EvalSuite, case: EvalCase, answer: Any) -> bool:
    """Comparator and regex graders (pure); the endpoint grader is called by ``EvalRunner``."""
    grader = suite.grader
    if isinstance(grader, CompareGrader):
        return agrees(grader.compare, case.expected, answer)
    if isinstance(grader, RegexGrader):
        text = answer.get(grader.field) if isinstance(answer, dict) else None
        pattern = case.expected
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
            raise ProviderRejected(f"eval suite: case {case.id}: expected must be a pattern of at most 500 characters")
        try:
            return isinstance(text, str) and re.search(pattern, text) is not None
        except re.error as exc:
            raise ProviderRejected(f"eval suite: case {case.id}: expected is not a regular expression: {exc}") from None
    raise TypeError(f"not a local grader: {grader!r}")


def score(verdicts: list[CaseVerdict], arm: str) -> ArmScore:
    """The share of cases ``arm`` passed, overall and per category."""
    passed = [getattr(v, arm) for v in verdicts]
    errors = sum(1 for v in verdicts if getattr(v, f"{arm}_error") is not None)
    categories: dict[str, list[bool]] = {}
    for v, ok in zip(verdicts, passed, strict=True):
        categories.setdefault(v.category, []).append(ok)
    return ArmScore(
        score=sum(passed) / len(passed) if passed else 0.0,
        passed=sum(passed),
        errors=errors,
        categories={name: sum(oks) / len(oks) for name, oks in sorted(categories.items())},
    )


async def _retrying(call: Callable[[], Awaitable[httpx.Response]], what: str) -> Any:
    """The JSON answer of ``call``, retrying transient failures; raises ``ProviderUnavailable`` after the last."""
    problem = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            await asyncio.sleep(0.2 * 2 ** (attempt - 1))
        try:
            response = await call()
        except httpx.TransportError as exc:
            problem = transport_problem(exc)
            continue
        if response.status_code >= 500 or response.status_code == 429:
            problem = f"HTTP {response.status_code} from {what}"
            continue
        if response.status_code >= 400:
            raise ProviderRejected(f"HTTP {response.status_code} from {what}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderRejected(f"unusable answer from {what}: {exc}") from None
    raise ProviderUnavailable(problem or f"no answer from {what}")


class EvalRunner:
    """One run of a suite; ``heartbeat`` is the activity's (a no-op outside one)."""

    def __init__(self, request: EvalInput, http: httpx.AsyncClient, heartbeat: Callable[..., None]) -> None:
        self.request, self.http, self.heartbeat = request, http, heartbeat

    async def run(self, previous: object = None) -> EvalResult:
        """Grade every case not already in ``previous`` (the last heartbeat's details), then score both."""
        request = self.request
        sha256, cases = load_suite(Path(request.suite.file))
        done = resumed_verdicts(previous, sha256, {c.id for c in cases})
        resumed = len(done)
        known = {v.id for v in done}
        gate = asyncio.Semaphore(request.concurrency)

        async def one(case: EvalCase) -> None:
            async with gate:
                (c_ok, c_err), (s_ok, s_err) = await asyncio.gather(
                    self._answer_and_grade(case, request.candidate_endpoint),
                    self._answer_and_grade(case, request.stable_endpoint),
                )
            done.append(
                CaseVerdict(
                    id=case.id,
                    category=case.category,
                    candidate=c_ok,
                    stable=s_ok,
                    candidate_error=c_err,
                    stable_error=s_err,
                )
            )
            self.heartbeat(heartbeat_details(sha256, done))

        await asyncio.gather(*(one(c) for c in cases if c.id not in known))
        order = {c.id: i for i, c in enumerate(cases)}
        done.sort(key=lambda v: order[v.id])
        if all(v.candidate_error is not None for v in done):
            raise ProviderUnavailable(
                f"eval: the candidate answered none of {len(done)} cases: {done[0].candidate_error}"
            )
        failing = [
            FailingCase(id=v.id, category=v.category, stable_passed=v.stable, error=v.candidate_error)
            for v in done
            if not v.candidate
        ]
        return EvalResult(
            suite=request.suite_name,
            sha256=sha256,
            cases=len(done),
            candidate=score(done, "candidate"),
            stable=score(done, "stable"),
            failing=failing[:MAX_FAILING_KEPT],
            failing_total=len(failing),
            resumed=resumed,
        )

    async def _answer_and_grade(self, case: EvalCase, endpoint: str) -> tuple[bool, str | None]:
        timeout = self.request.request_timeout_seconds
        try:
            answer = await _retrying(lambda: self.http.post(endpoint, json=case.input, timeout=timeout), endpoint)
            grader = self.request.suite.grader
            if isinstance(grader, EndpointGrader):
                verdict = await _retrying(
                    lambda: self.http.post(
                        grader.url, json={"case": {"id": case.id, "expected": case.expected}, "answer": answer}
                    ),
                    grader.url,
                )
                if not isinstance(verdict, dict) or not isinstance(verdict.get("pass"), bool):
                    raise ProviderRejected(
                        f'grader {grader.url}: expected {{"pass": true|false}}, got {verdict!r:.100}'
                    )
                return verdict["pass"], None
            return grade_locally(self.request.suite, case, answer), None
        except ProviderUnavailable as exc:
            return False, str(exc)[:300]


def resumed_verdicts(previous: object, sha256: str, ids: set[str]) -> list[CaseVerdict]:
    """Verdicts from a previous attempt's last heartbeat, if it graded this very file; else none."""
    if not isinstance(previous, dict) or previous.get("sha256") != sha256:
        return []
    kept: list[CaseVerdict] = []
    for item in previous.get("verdicts") or []:
        try:
            verdict = CaseVerdict.model_validate(item)
        except ValueError:
            return []  # not ours: start over rather than trust part of it
        if verdict.id in ids and all(v.id != verdict.id for v in kept):
            kept.append(verdict)
    return kept


class EvalActivities:
    """The eval gate's activity, on the worker's shared HTTP client."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @activity.defn(name="run_eval")
    async def run_eval(self, request: EvalInput) -> EvalResult:
        """Run the suite, resuming from the last heartbeat of an earlier attempt."""
        details = activity.info().heartbeat_details
        previous = details[0] if details else None
        runner = EvalRunner(request, self._http, activity.heartbeat)
        try:
            return await runner.run(previous)
        except (ProviderRejected, ProviderUnavailable) as exc:
            raise exc.to_application_error() from exc

    def all(self) -> list[object]:
        """The activities the worker registers."""
        return [self.run_eval]
