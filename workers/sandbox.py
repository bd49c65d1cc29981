"""The workflow sandbox, without the two costs it adds to every activation and every payload.

The SDK's sandbox (temporalio 1.35) enters a workflow run by ``exec`` of a short source string: once per
activation, and once per payload sequence its payload visitors meet (three passes to decode an activation, more to
encode a completion), each time to ask the run for a serialization context. ``exec`` of a string compiles it
again on every call. Replaying a 205-event run spent a fifth of its CPU there (issue 24: a worker restarted with
1,000 rollouts replays every run, and that replay is what the restart waits for).

Two changes, both keeping what runs inside the sandbox exactly as it was:

- the source strings are compiled once per process (they are the SDK's own constants, plus one per registered
  workflow class for the import);
- the serialization and store contexts are read from the run's in-sandbox object by a plain method call. Those
  methods only look up the run's pending commands and its info (no import, no workflow code), so the import hook
  the ``exec`` path installs around them protects nothing.

The SDK version is pinned in pyproject.toml; ``tests/workflows/test_sandbox_runner.py`` fails if the private
names used here move, and every replay test runs through this runner.
"""

from __future__ import annotations

import functools
import threading
from types import CodeType
from typing import Any

import temporalio.workflow
from temporalio.converter import SerializationContext
from temporalio.converter._extstore import StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance

IN_SANDBOX = "__temporal_in_sandbox"
"""The name the SDK's runner gives the run's in-sandbox object in the sandbox's globals."""


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> CodeType:
    """``source`` compiled once: the runner's strings are few and never change within a process."""
    return compile(source, "workflow_sandbox.py", "exec")


class _PrecompiledInstance(_Instance):
    """The SDK's sandboxed run, entered through compiled code and asked for contexts without entering it."""

    def _run_code(self, code: str, **extra_globals: Any) -> None:
        """As the SDK's ``_run_code``, with the source compiled once rather than at every call."""
        for key, value in extra_globals.items():
            self.globals_and_locals[key] = value
        try:
            temporalio.workflow.unsafe._set_in_sandbox(True)
            self._current_thread_id = threading.get_ident()
            exec(_compiled(code), self.globals_and_locals, self.globals_and_locals)
        finally:
            temporalio.workflow.unsafe._set_in_sandbox(False)
            self._current_thread_id = None
            for key in extra_globals:
                self.globals_and_locals.pop(key, None)

    def _in_sandbox(self) -> Any:
        """The run's ``InSandbox`` object, which the SDK's runner keeps in the sandbox's globals."""
        return self.globals_and_locals[IN_SANDBOX]

    def get_serialization_context(self, command_info: CommandInfo | None) -> SerializationContext | None:
        """The run's context for a payload, by a direct call (see the module docstring)."""
        result: SerializationContext | None = self._in_sandbox().get_serialization_context(command_info)
        return result

    def get_external_store_context(self, command_info: CommandInfo | None) -> StorageDriverStoreContext:
        """The run's external-store context for a payload, by a direct call (see the module docstring)."""
        result: StorageDriverStoreContext = self._in_sandbox().get_external_store_context(command_info)
        return result


class PrecompiledSandboxRunner(SandboxedWorkflowRunner):
    """The SDK's sandbox with the same restrictions; its runs are ``_PrecompiledInstance``."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        """A sandboxed run, as the SDK creates it, entered the cheaper way."""
        return _PrecompiledInstance(det, self.runner_class, self.restrictions)


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with our pure modules and pydantic passed through.

    Passing pydantic through avoids re-importing it per workflow run (slow, and its classes would not be the
    ones the converter knows). Our pure modules hold no I/O, so sharing them across runs is safe. ``sshsig`` and
    ``cryptography`` verify signed decisions in handlers: pure functions, and their native bindings cannot be
    imported twice in one process.
    """
    return PrecompiledSandboxRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "pydantic", "pydantic_core", "models", "workflows", "sshsig", "cryptography"
        )
    )
