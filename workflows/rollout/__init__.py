"""The ``Rollout`` workflow as a package, laid out the way argo-rollouts lays out its rollout context.

``workflow.py`` holds the class with its handlers and queries; everything after validation works on one
non-optional ``RolloutRun`` (``context.py``): ``steps.py`` walks the gates and steps and promotes,
``analysis.py`` watches a step, ``rollback.py`` compensates, ``view.py`` turns state into what operators read,
``calls.py`` is the table of activity calls with their timeouts and retries.
"""

from __future__ import annotations

from workflows.rollout.workflow import RolloutWorkflow

__all__ = ["RolloutWorkflow"]
