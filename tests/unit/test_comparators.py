"""activities.comparators: how shadow answers are compared."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activities.comparators import agrees, text_similarity
from models.spec import ExactCompare, JsonFieldsCompare, NumericToleranceCompare, TextSimilarityCompare

EXACT = ExactCompare(kind="exact")
ANSWER = JsonFieldsCompare(kind="json-fields", fields=["answer"])
SCORE = NumericToleranceCompare(kind="numeric-tolerance", fields=["score"], tolerance=0.5)
TEXT = TextSimilarityCompare(kind="text-similarity", field="answer", min_similarity=0.5)


# ---------------------------------------------------------------- exact


@pytest.mark.parametrize(
    ("stable", "candidate", "expected"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ([1, 2], [2, 1], False),
        ("yes", "yes", True),
        ({"a": True}, {"a": 1}, False),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 2, "x": 1}}, True),
        (None, None, True),
    ],
)
def test_exact(stable: Any, candidate: Any, expected: bool) -> None:
    assert agrees(EXACT, stable, candidate) is expected


# ---------------------------------------------------------------- json-fields


@pytest.mark.parametrize(
    ("stable", "candidate", "expected"),
    [
        ({"answer": "42", "took_ms": 10}, {"answer": "42", "took_ms": 99, "id": "x"}, True),
        ({"answer": "42"}, {"answer": "43"}, False),
        ({"answer": "42"}, {}, False),
        ({"answer": [1, {"a": 1}]}, {"answer": [1, {"a": 1}]}, True),
    ],
)
def test_json_fields(stable: Any, candidate: Any, expected: bool) -> None:
    assert agrees(ANSWER, stable, candidate) is expected


def test_json_fields_every_listed_field_must_agree() -> None:
    both = JsonFieldsCompare(kind="json-fields", fields=["answer", "label"])
    assert agrees(both, {"answer": 1, "label": "a"}, {"answer": 1, "label": "a"})
    assert not agrees(both, {"answer": 1, "label": "a"}, {"answer": 1, "label": "b"})


@pytest.mark.parametrize(("stable", "candidate"), [("yes", "no"), ([1], {"other": 2}), (1, 2)])
def test_json_fields_different_non_object_answers_do_not_agree(stable: Any, candidate: Any) -> None:
    assert not agrees(ANSWER, stable, candidate)


# ---------------------------------------------------------------- numeric-tolerance


@pytest.mark.parametrize(
    ("stable", "candidate", "expected"),
    [
        ({"score": 1.0}, {"score": 1.5}, True),
        ({"score": 1.0}, {"score": 0.5}, True),
        ({"score": 1.0}, {"score": 1.75}, False),
        ({"score": 3}, {"score": 3}, True),
        ({"score": 1.0}, {"score": "1.0"}, False),
        ({"score": 1.0}, {}, False),
        ({}, {}, False),
        ({"score": None}, {"score": None}, False),
        ("1.0", "1.0", False),
    ],
)
def test_numeric_tolerance(stable: Any, candidate: Any, expected: bool) -> None:
    assert agrees(SCORE, stable, candidate) is expected


def test_numeric_tolerance_checks_every_field() -> None:
    compare = NumericToleranceCompare(kind="numeric-tolerance", fields=["a", "b"], tolerance=0)
    assert agrees(compare, {"a": 1, "b": 2}, {"a": 1, "b": 2})
    assert not agrees(compare, {"a": 1, "b": 2}, {"a": 1, "b": 3})


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_numeric_tolerance_is_the_absolute_difference(a: float, b: float, tolerance: float) -> None:
    compare = NumericToleranceCompare(kind="numeric-tolerance", fields=["x"], tolerance=tolerance)
    assert agrees(compare, {"x": a}, {"x": b}) == (abs(a - b) <= tolerance)
    assert agrees(compare, {"x": a}, {"x": b}) == agrees(compare, {"x": b}, {"x": a})


def test_numeric_tolerance_nan_does_not_agree() -> None:
    assert not agrees(SCORE, {"score": 1.0}, {"score": float("nan")})


# ---------------------------------------------------------------- text-similarity


def test_text_similarity_values() -> None:
    assert text_similarity("the cat sat", "the cat sat") == 1.0
    assert text_similarity("The Cat, sat!", "the cat sat") == 1.0
    assert text_similarity("a b", "c d") == 0.0
    assert text_similarity("a b c", "a b d") == pytest.approx(2 / 4)
    assert text_similarity("", "") == 1.0
    assert text_similarity("", "word") == 0.0
    assert text_similarity("...", "!!!") == 1.0  # no words on either side


@pytest.mark.parametrize(
    ("stable", "candidate", "expected"),
    [
        ({"answer": "reset your password in settings"}, {"answer": "Reset your password in Settings."}, True),
        ({"answer": "a b c"}, {"answer": "a b d"}, True),  # 0.5 >= 0.5
        ({"answer": "a b c d"}, {"answer": "a e f g"}, False),
        ({"answer": "a"}, {"answer": None}, False),
        ({"answer": "a"}, {"other": "a"}, False),
        ("a", "a", False),
    ],
)
def test_text_similarity_agrees(stable: Any, candidate: Any, expected: bool) -> None:
    assert agrees(TEXT, stable, candidate) is expected


def test_text_similarity_uses_the_named_field() -> None:
    compare = TextSimilarityCompare(kind="text-similarity", field="reply", min_similarity=1.0)
    assert agrees(compare, {"reply": "ok", "answer": "x"}, {"reply": "OK", "answer": "y"})


@given(st.text(max_size=40), st.text(max_size=40))
def test_text_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    s = text_similarity(a, b)
    assert 0.0 <= s <= 1.0
    assert s == text_similarity(b, a)


@given(st.text(max_size=60))
def test_text_similarity_is_one_on_equal_texts(a: str) -> None:
    assert text_similarity(a, a) == 1.0
    assert agrees(TextSimilarityCompare(kind="text-similarity", min_similarity=1.0), {"answer": a}, {"answer": a})


@given(st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta"]), min_size=1, max_size=6))
def test_text_similarity_ignores_order_and_repetition(words: list[str]) -> None:
    assert text_similarity(" ".join(words), " ".join(reversed(words + words))) == 1.0


@given(st.sets(st.sampled_from("abcdefgh"), max_size=8), st.sets(st.sampled_from("abcdefgh"), max_size=8))
def test_text_similarity_is_jaccard(a: set[str], b: set[str]) -> None:
    expected = 1.0 if not (a | b) else len(a & b) / len(a | b)
    assert text_similarity(" ".join(sorted(a)), " ".join(sorted(b))) == expected


def test_unknown_comparator_raises() -> None:
    with pytest.raises(TypeError, match="unknown comparator"):
        agrees(object(), {}, {})  # type: ignore[arg-type]
