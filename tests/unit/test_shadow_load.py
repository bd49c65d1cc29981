"""activities.shadow.load_requests: the recorded requests replayed in shadow mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.errors import ProviderRejected
from activities.shadow import load_requests

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "support-requests.jsonl"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_every_line_with_its_number(tmp_path: Path) -> None:
    path = write(tmp_path, '{"q": 1}\n{"q": 2}\n[3]\n"four"\n')
    assert load_requests(path, 10) == [(1, {"q": 1}), (2, {"q": 2}), (3, [3]), (4, "four")]


def test_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "".join(f'{{"q": {i}}}\n' for i in range(10)))
    assert load_requests(path, 3) == [(1, {"q": 0}), (2, {"q": 1}), (3, {"q": 2})]


def test_limit_stops_before_a_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{"q": 1}\n{"q": 2}\nnot json\n')
    assert [n for n, _ in load_requests(path, 2)] == [1, 2]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = write(tmp_path, '\n{"q": 1}\n   \n\n{"q": 2}\n\n')
    assert load_requests(path, 10) == [(2, {"q": 1}), (5, {"q": 2})]


def test_blank_lines_do_not_count_toward_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path, '\n\n{"q": 1}\n\n{"q": 2}\n{"q": 3}\n')
    assert [n for n, _ in load_requests(path, 2)] == [3, 5]


def test_last_line_without_newline(tmp_path: Path) -> None:
    assert load_requests(write(tmp_path, '{"q": 1}'), 5) == [(1, {"q": 1})]


def test_bad_json_line_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, '{"q": 1}\n\n{"q": \n')
    with pytest.raises(ProviderRejected, match=r"^shadow\.requests_file: line 3 is not JSON: "):
        load_requests(path, 10)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(ProviderRejected) as info:
        load_requests(missing, 10)
    assert str(info.value) == f"shadow.requests_file: no such file on the worker: {missing.resolve()}"
    assert info.value.retryable is False


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ProviderRejected, match="no such file"):
        load_requests(tmp_path, 10)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_no_requests(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProviderRejected, match="holds no requests"):
        load_requests(path, 10)


def test_shipped_example_loads() -> None:
    requests = load_requests(EXAMPLE, 60)
    assert len(requests) == 60
    assert requests[0][0] == 1
    assert requests[0][1]["request_id"] == "req-0000"
