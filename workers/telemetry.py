"""The SDK's runtime telemetry: its metrics, and ours (``workers.rollout_metrics``), served for Prometheus.

One ``Runtime`` per process carries the metrics of every client and worker made with it; with
``WORKER_METRICS_BIND`` unset the worker uses the SDK's default runtime and exposes nothing.
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0, 86400.0)
"""Buckets for our duration histograms: rollbacks take seconds, whole rollouts hours to days."""


def prometheus_runtime(bind_address: str) -> Runtime:
    """A runtime whose metrics are served at ``http://<bind_address>/metrics``.

    Durations in seconds and counters ending in ``_total``: the conventions Prometheus users write queries in.
    """
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address,
                counters_total_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides={
                    "rollouts_rollback_seconds": SECONDS_BUCKETS,
                    "rollouts_duration_seconds": SECONDS_BUCKETS,
                    "rollouts_activity_seconds": SECONDS_BUCKETS,
                },
            )
        )
    )
