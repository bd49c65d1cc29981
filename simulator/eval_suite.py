"""The simulator's eval suite and grader: a small staging suite whose expected answers are stable's.

``python -m simulator.eval_suite`` writes ``simulator/evals/support-suite.jsonl`` (committed; a test checks it is
current). Each case's expected answer is what stable answers to its input (``answers.baseline_answer``), so stable
scores 1.0 and a candidate scores the share of cases outside its ``disagreement`` knob: the eval gate fails a
candidate told to disagree, as a real suite fails a regressed model. ``grade`` is the operators' grader endpoint
of the stand-ins (``POST /grade`` on the control port and on each model server).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.answers import baseline_answer

SUITE = Path(__file__).resolve().parent / "evals" / "support-suite.jsonl"
SUITE_NAME = "support"
CATEGORIES: dict[str, list[str]] = {
    "account": [
        "reset my password",
        "change my email",
        "delete my account",
        "enable two-factor login",
        "merge two accounts",
    ],
    "billing": ["update billing address", "get a refund", "change plan", "download an invoice", "add a card"],
    "orders": ["track my order", "return an item", "change delivery date", "cancel an order", "report a damaged item"],
    "privacy": ["export my data", "opt out of emails", "see who accessed my data", "correct my data", "stop tracking"],
}
CASES_PER_TOPIC = 2


def cases() -> list[dict[str, Any]]:
    """Forty cases over four categories, deterministic."""
    out: list[dict[str, Any]] = []
    for category, topics in CATEGORIES.items():
        for topic in topics:
            for variant in range(CASES_PER_TOPIC):
                body = {"question": f"How do I {topic}?", "locale": ("en", "fr")[variant]}
                out.append(
                    {
                        "id": f"{category}-{len(out):03d}",
                        "category": category,
                        "input": body,
                        "expected": {"answer": baseline_answer(body)},
                    }
                )
    return out


def render() -> str:
    """The suite file's text."""
    return "".join(json.dumps(case, sort_keys=True) + "\n" for case in cases())


def grade(document: Any) -> dict[str, Any]:
    """The stand-ins' grader: ``{"case": {"expected": ...}, "answer": ...}`` passes when the answers match."""
    case = document.get("case") if isinstance(document, dict) else None
    answer = document.get("answer") if isinstance(document, dict) else None
    expected = case.get("expected") if isinstance(case, dict) else None
    if not isinstance(expected, dict) or not isinstance(answer, dict):
        return {"pass": False, "why": "expected {case: {expected: {...}}, answer: {...}}"}
    return {"pass": answer.get("answer") == expected.get("answer")}


def suite_entry(grader_url: str) -> dict[str, Any]:
    """The suite as an operators' target lists it (``eval_suites``), graded by ``grader_url``."""
    return {
        SUITE_NAME: {
            "file": str(SUITE),
            "grader": {"kind": "endpoint", "url": grader_url},
            "baseline": 1.0,
            "tolerance": 0.05,
            "category_tolerance": 0.2,
        }
    }


if __name__ == "__main__":
    SUITE.parent.mkdir(exist_ok=True)
    SUITE.write_text(render())
    print(f"wrote {len(cases())} cases to {SUITE}")
