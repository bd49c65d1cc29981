"""Docs that are generated or quoted must match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from models.pipeline import validate_pipeline
from models.schema import spec_schema
from models.validation import validate_spec

ROOT = Path(__file__).resolve().parent.parent


def test_committed_json_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "rollout-spec.schema.json").read_text())
    assert committed == spec_schema(), "regenerate: python -m models.schema > docs/rollout-spec.schema.json"


def test_every_example_spec_validates() -> None:
    examples = sorted((ROOT / "docs" / "examples").glob("*.json"))
    assert examples
    for path in examples:
        if path.name.endswith(".pipeline.json"):
            validate_pipeline(json.loads(path.read_text()))  # every stage's rollout spec is validated too
        else:
            validate_spec(json.loads(path.read_text()))


STRATEGY_SECTIONS = {
    "Shadow": "shadow",
    "Canary": "canary",
    "Analysis": "analysis",
    "Pause": "pause",
    "Approval": "approval",
    "A/B test": "ab_test",
    "Blue-green": "blue_green",
    "Watch": "watch",
    "Combined": None,
}


def test_rollouts_guide_has_a_validated_example_per_strategy() -> None:
    """Each strategy's section links a complete example under docs/examples/ that uses its kind."""
    guide = (ROOT / "docs" / "rollouts.md").read_text()
    strategies = guide.split("\n## Strategies\n", 1)[1].split("\n## ", 1)[0]
    sections = dict(re.findall(r"^### (.+?)\n\n(.*?)(?=^### |\Z)", strategies, re.MULTILINE | re.DOTALL))
    assert list(sections) == list(STRATEGY_SECTIONS)
    for title, kind in STRATEGY_SECTIONS.items():
        link = re.search(r"\]\((examples/[\w.-]+\.json)\)", sections[title])
        assert link is not None, title
        spec = validate_spec(json.loads((ROOT / "docs" / link.group(1)).read_text()))
        assert spec.strategy is not None, title
        kinds = [item.kind for item in spec.strategy]
        if kind is not None:
            assert kind in kinds, (title, kinds)
        else:
            assert kinds == ["shadow", "canary", "canary", "canary", "ab_test", "watch"], kinds


def test_pipelines_guide_quotes_the_example_pipeline() -> None:
    guide = (ROOT / "docs" / "pipelines.md").read_text()
    example = (ROOT / "docs" / "examples" / "support-assistant.pipeline.json").read_text()
    quoted = re.search(r"```json\n(.*?)```", guide, re.DOTALL)
    assert quoted is not None and json.loads(quoted.group(1)) == json.loads(example)


def test_ui_tour_images_exist_and_are_small_pngs() -> None:
    tour = (ROOT / "docs" / "ui-tour.md").read_text()
    images = re.findall(r"\]\((images/[^)]+\.png)\)", tour)
    assert len(images) == 3, images
    for image in images:
        data = (ROOT / "docs" / image).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 400_000, image


def test_readme_commands_work_as_written_after_make_run() -> None:
    readme = (ROOT / "README.md").read_text()
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert 'export PATH="$PWD/.tools/bin:$PATH"' in readme, "the CLI is not on PATH after set-up"
    assert "temporal workflow execute --type Rollout" in readme
    # The spec the README starts from is the one make run writes, naming the target its policy defines, signed
    # again for the new workflow id.
    assert "sign-spec .run/demo-spec.json" in readme and 'spec="$run_dir/demo-spec.json"' in run_sh
    assert "--workflow-id rollout-support-assistant-2 --valid-for 30m --output .run/my-spec.json" in readme
    assert "--input-file .run/my-spec.json" in readme
    assert 'run_dir=".run"' in run_sh
    # The list URL (query) is the same in the README, the tour and make run's guidance.
    url = "http://localhost:8233/namespaces/default/workflows?query=WorkflowType%3D%22Rollout%22"
    assert url in readme and url in (ROOT / "docs" / "ui-tour.md").read_text() and url in run_sh
    for name in ("RolloutPhase", "RolloutCandidateWeight", "RolloutOutcome"):
        assert name in readme
    assert "docs/ui-tour.md" in readme
