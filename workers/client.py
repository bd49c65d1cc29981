"""One way to connect to Temporal, shared by the worker, the tests and the benchmarks.

Every client gets the project's data converter (pydantic's, see ``workers.converter``) and the
OpenTelemetry tracing interceptor, so tests exercise exactly what production runs.
"""

from __future__ import annotations

from temporalio.client import Client, Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from workers.converter import data_converter
from workers.settings import Settings


def interceptors() -> list[Interceptor]:
    """The interceptors every client and worker uses."""
    return [TracingInterceptor()]


def _tls(settings: Settings) -> TLSConfig | bool:
    if not settings.tls:
        return False
    return TLSConfig(
        server_root_ca_cert=settings.tls_ca_path.read_bytes() if settings.tls_ca_path else None,
        client_cert=settings.tls_cert_path.read_bytes() if settings.tls_cert_path else None,
        client_private_key=settings.tls_key_path.read_bytes() if settings.tls_key_path else None,
        domain=settings.tls_server_name,
    )


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Connect with the project's converter, interceptors and the TLS / API key options from ``settings``.

    ``runtime`` carries the metrics exporter (``workers.telemetry``); None is the SDK's default runtime.
    """
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=data_converter,
        interceptors=interceptors(),
        tls=_tls(settings),
        api_key=settings.api_key,
        runtime=runtime,
    )
