"""OpenTelemetry set-up: spans go to OTLP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, otherwise nowhere."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def configure_tracing(service_name: str = "durable-rollouts-worker") -> TracerProvider | None:
    """Install a global tracer provider exporting to OTLP, or return None when no endpoint is configured.

    Without an endpoint the temporalio interceptor still runs against OpenTelemetry's no-op tracer, so the code
    path is the same in tests and production and costs nothing.
    """
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider
