"""Orchestration: the Rollout workflow, the lease, and the pure decisions they take."""
