"""Errors of the activities, one root; the activity boundary turns them into Temporal failures.

ProviderError                  root: a provider did not do what we asked
├── ProviderUnavailable        transport error, timeout, 5xx: retried by Temporal
├── RouterNotConverged         the router answered with other weights than we set: retried
└── ProviderRejected           the provider said no (4xx, invalid config, bad data): not retried
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError


class ProviderError(Exception):
    """Root of every provider failure."""

    retryable = True

    def to_application_error(self) -> ApplicationError:
        """This error as the failure an activity raises, so Temporal's retry policy can act on it.

        The class name becomes the failure type the workflow sees, and ``retryable`` decides whether Temporal
        tries the activity again or gives the failure to the workflow at once.
        """
        return ApplicationError(str(self), type=type(self).__name__, non_retryable=not self.retryable)


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed on its side; it may work on the next attempt."""


class RouterNotConverged(ProviderError):
    """The router reports other weights than the ones just set."""


class ProviderRejected(ProviderError):
    """The provider refused the request or returned something unusable; retrying will not help."""

    retryable = False
