"""The pipeline's one look at the world beyond its children: has this candidate failed a stage before?

It asks Temporal's visibility store, by the search attributes every rollout sets (``RolloutService``,
``RolloutCandidateVersion``, ``RolloutOutcome``), for rollouts of this version that rolled back or failed. A
bounded, honest check: at most ``limit`` ids, and as fresh as visibility is (seconds behind on a busy cluster);
rollouts deleted by the namespace's retention are forgotten, which the docs say.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from models.pipeline import FailureList, FailureQuery
from workflows import search_attributes as sa


def failure_query(request: FailureQuery) -> str:
    """The visibility query; the service and version were validated ([a-z0-9-], [A-Za-z0-9._-]): safe to quote."""
    return (
        f"WorkflowType = 'Rollout' AND {sa.SERVICE.name} = '{request.service}' AND "
        f"{sa.CANDIDATE_VERSION.name} = '{request.candidate_version}' AND "
        f"{sa.OUTCOME.name} IN ('rolled_back', 'failed')"
    )


class PipelineActivities:
    """Activities of the Pipeline workflow, on the worker's Temporal client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="find_failed_rollouts")
    async def find_failed_rollouts(self, request: FailureQuery) -> FailureList:
        """Ids of up to ``limit`` rollouts of this candidate that rolled back or failed."""
        query = failure_query(request)
        ids: list[str] = []
        async for execution in self._client.list_workflows(query, limit=request.limit):
            ids.append(execution.id)
        return FailureList(rollout_ids=ids, query=query)

    def all(self) -> list[object]:
        """The activities the worker registers."""
        return [self.find_failed_rollouts]
