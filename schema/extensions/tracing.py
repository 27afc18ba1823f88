"""OpenTelemetry tracing through Strawberry's own extension, exported over OTLP/HTTP.

On when `DPOR_OTEL_ENDPOINT` is set (e.g. http://collector:4318/v1/traces): one span per operation, with child
spans for parsing, validation and resolvers, in a TracerProvider of our own (the process-global one is left to
whoever embeds the gateway). Field arguments are never recorded: inputs carry personal data (contact emails and
phones) and tokens must not travel in traces. Nor is the query text (Strawberry records it whole, inline literals
included): the span carries the document's sha256 instead, which matches the persisted-documents manifest.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from hashlib import sha256
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind
from strawberry.extensions import LifecycleStep
from strawberry.extensions.tracing import OpenTelemetryExtension


def _no_arguments(arguments: dict[str, Any], info: Any) -> dict[str, Any]:
    return {}


def tracer_provider(service_name: str, processor: SpanProcessor) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(processor)
    return provider


def otlp_processor(endpoint: str, exporter: SpanExporter | None = None) -> SpanProcessor:
    # Batched off the request path: exporting never adds latency to an operation, and a collector outage only
    # drops spans.
    return BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=endpoint))


class PrivateOpenTelemetryExtension(OpenTelemetryExtension):
    """Strawberry's extension, with the operation span naming the document by hash instead of quoting it."""

    def on_operation(self) -> Generator[None, None, None]:
        self._operation_name = self.execution_context.operation_name
        span = self._tracer.start_span(
            f"GraphQL Query: {self._operation_name}" if self._operation_name else "GraphQL Query",
            kind=SpanKind.SERVER,
        )
        self._span_holder[LifecycleStep.OPERATION] = span
        span.set_attribute("component", "graphql")
        if self.execution_context.query:
            span.set_attribute("graphql.document.sha256", sha256(self.execution_context.query.encode()).hexdigest())
        yield
        if not self._operation_name and self.execution_context.operation_name:
            span.update_name(f"GraphQL Query: {self.execution_context.operation_name}")
        span.end()


def tracing(provider: TracerProvider) -> partial[PrivateOpenTelemetryExtension]:
    return partial(PrivateOpenTelemetryExtension, tracer_provider=provider, arg_filter=_no_arguments)
