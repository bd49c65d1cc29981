"""The eval gate: its pure verdict, the suite loader's refusals, the graders, and the runner's retries and
resumption (HTTP shaped by ``httpx.MockTransport``; the real endpoints are in tests/workflows/test_eval_gate.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.errors import ProviderRejected
from activities.eval_gate import EvalCase, EvalRunner, grade_locally, load_suite, resumed_verdicts
from models.evals import ArmScore, CaseVerdict, EvalInput, EvalResult, EvalSuite, heartbeat_details
from simulator import eval_suite
from simulator.answers import baseline_answer
from workflows.eval_gate import eval_gate

STABLE, CANDIDATE, GRADER = "http://stable.test/v1/answer", "http://candidate.test/v1/answer", "http://grader.test/g"


def result(candidate: float, stable: float = 1.0, categories: dict[str, float] | None = None) -> EvalResult:
    return EvalResult(
        suite="support",
        sha256="ab" * 32,
        cases=40,
        candidate=ArmScore(score=candidate, passed=int(candidate * 40), errors=0, categories=categories or {}),
        stable=ArmScore(score=stable, passed=int(stable * 40), errors=0, categories={"billing": 1.0}),
    )


def suite(**fields: Any) -> EvalSuite:
    return EvalSuite.model_validate({"file": "/suite.jsonl", "grader": {"kind": "endpoint", "url": GRADER}, **fields})


def test_gate_holds_the_candidate_to_the_locked_baseline_minus_tolerance() -> None:
    locked = suite(baseline=0.9, tolerance=0.05)
    assert eval_gate(result(0.85, stable=0.5), locked).passed
    failed = eval_gate(result(0.84, stable=0.5), locked)
    assert not failed.passed and "locked baseline 0.900" in failed.summary and "FAILED" in failed.summary
    assert failed.name == "eval" and failed.details["sha256"] == "ab" * 32


def test_without_a_locked_baseline_stable_is_the_reference() -> None:
    assert not eval_gate(result(0.9, stable=0.95), suite()).passed
    assert eval_gate(result(0.95, stable=0.95), suite()).passed


def test_a_category_regression_fails_even_when_the_overall_score_holds() -> None:
    gate = eval_gate(result(0.97, categories={"billing": 0.7}), suite(tolerance=0.05, category_tolerance=0.2))
    assert not gate.passed and "category billing" in gate.summary


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        (["not json"], "line 1: not JSON"),
        (['{"id": "a", "input": {}}'], "line 1: a case is an object"),
        (['{"id": "a", "input": {}, "expected": 1}', '{"id": "a", "input": {}, "expected": 1}'], "line 2: id"),
        ([""], "no cases"),
    ],
)
def test_a_bad_suite_is_refused_naming_the_line(tmp_path: Path, lines: list[str], says: str) -> None:
    with pytest.raises(ProviderRejected, match=says):
        load_suite(write(tmp_path, lines))


def test_regex_and_comparator_graders() -> None:
    regex = EvalSuite.model_validate({"file": "/s", "grader": {"kind": "regex"}})
    case = EvalCase("a", "c", {}, r"refund within \d+ days")
    assert grade_locally(regex, case, {"answer": "You get a refund within 14 days."})
    assert not grade_locally(regex, case, {"answer": "No refunds."})
    compare = EvalSuite.model_validate(
        {"file": "/s", "grader": {"kind": "compare", "compare": {"kind": "json-fields", "fields": ["answer"]}}}
    )
    assert grade_locally(compare, EvalCase("b", "c", {}, {"answer": "x"}), {"answer": "x", "version": "v2"})


def test_the_shipped_suite_is_current_and_stable_passes_it() -> None:
    assert eval_suite.SUITE.read_text() == eval_suite.render(), "regenerate: python -m simulator.eval_suite"
    _, cases = load_suite(eval_suite.SUITE)
    assert len(cases) == 40 and len({c.category for c in cases}) == 4


class Endpoints:
    """Both versions and the grader: the candidate fails ``wrong`` cases, stable flakes once per case (a 503)."""

    def __init__(self, wrong: set[str]) -> None:
        self.wrong, self.seen, self.flaked = wrong, [], set()  # type: ignore[var-annotated]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if str(request.url) == GRADER:
            return httpx.Response(200, json=eval_suite.grade(body))
        self.seen.append((str(request.url), body["question"], body["locale"]))
        key = (body["question"], body["locale"])
        if str(request.url) == STABLE and key not in self.flaked:
            self.flaked.add(key)
            return httpx.Response(503, json={"error": "busy"})
        expected = baseline_answer(body)
        right = str(request.url) == STABLE or body["question"] not in self.wrong
        return httpx.Response(200, json={"answer": expected if right else "nonsense"})


def runner(endpoints: Endpoints, beats: list[dict[str, Any]]) -> EvalRunner:
    request = EvalInput(
        suite_name="support",
        suite=EvalSuite.model_validate(eval_suite.suite_entry(GRADER)["support"]),
        stable_endpoint=STABLE,
        candidate_endpoint=CANDIDATE,
        concurrency=4,
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoints))
    return EvalRunner(request, http, lambda details: beats.append(details))


async def test_transient_failures_are_retried_and_failing_cases_recorded() -> None:
    beats: list[dict[str, Any]] = []
    endpoints = Endpoints(wrong={"How do I get a refund?"})
    got = await runner(endpoints, beats).run()
    assert got.stable.score == 1.0 and got.stable.errors == 0, "a 503 then an answer is not a failure"
    assert got.failing_total == 2 and {f.category for f in got.failing} == {"billing"}
    assert got.candidate.categories["billing"] == pytest.approx(0.8)
    assert beats[-1]["done"] == 40 and beats[-1]["candidate_score_so_far"] == pytest.approx(38 / 40)


async def test_a_new_attempt_resumes_from_the_last_heartbeat() -> None:
    beats: list[dict[str, Any]] = []
    await runner(Endpoints(wrong=set()), beats).run()
    halfway = beats[19]  # the heartbeat after 20 cases: what a worker killed then left behind
    again = Endpoints(wrong=set())
    resumed = await runner(again, []).run(halfway)
    assert resumed.resumed == 20 and resumed.cases == 40
    asked = {(q, loc) for url, q, loc in again.seen if url == CANDIDATE}
    done_before = {v["id"] for v in halfway["verdicts"]}
    _, cases = load_suite(eval_suite.SUITE)
    assert len(asked) == 20
    assert not {(c.input["question"], c.input["locale"]) for c in cases if c.id in done_before} & asked


def test_a_heartbeat_of_another_file_is_not_trusted() -> None:
    verdict = CaseVerdict(id="a", category="c", candidate=True, stable=True)
    details = heartbeat_details("ab" * 32, [verdict])
    assert resumed_verdicts(details, "ab" * 32, {"a"}) == [verdict]
    assert resumed_verdicts(details, "cd" * 32, {"a"}) == []
    assert resumed_verdicts({"sha256": "ab" * 32, "verdicts": [{"id": 1}]}, "ab" * 32, {"a"}) == []
