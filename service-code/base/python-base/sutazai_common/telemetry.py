"""Optional OpenTelemetry tracing: on only when OTEL_EXPORTER_OTLP_ENDPOINT is
set. Spans of incoming requests (FastAPI) and outgoing calls (httpx, which
also propagates the trace context to the next service) go to the collector
over OTLP HTTP/protobuf; the exporter reads the standard OTEL_* variables."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from .config import env_str

log = logging.getLogger("sutazai.telemetry")


def setup_tracing(app: FastAPI, service: str) -> Any:
    """Instrument ``app``; returns the tracer provider (None when off)."""
    if env_str("OTEL_EXPORTER_OTLP_ENDPOINT") is None or env_str("OTEL_SDK_DISABLED") == "true":
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:  # an image without the packages: run untraced
        log.warning("tracing requested but unavailable: %s", exc)
        return None
    resource = Resource.create(
        {
            "service.name": env_str("OTEL_SERVICE_NAME", service) or service,
            "service.namespace": "sutazai",
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Probes and scrapes would drown the real traffic.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="/health,/ready,/metrics"
    )
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    log.info("tracing to %s", env_str("OTEL_EXPORTER_OTLP_ENDPOINT"))
    return provider
