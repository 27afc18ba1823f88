"""OpenTelemetry: spans for each operation when an endpoint is configured, and never the arguments."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from auth.principal import Role
from db.engine import Database
from gateway.settings import load_settings
from gateway.wiring import extension_config
from schema.extensions import for_config
from schema.extensions.tracing import tracer_provider, tracing
from schema.root import _schema
from tests import factories
from tests.api import principal


def test_tracing_is_on_only_with_an_endpoint() -> None:
    def names(settings_overrides: dict[str, object]) -> list[str]:
        extensions = for_config(extension_config(load_settings(**settings_overrides)))
        return [getattr(getattr(e, "func", e), "__name__", "") for e in extensions]

    assert "PrivateOpenTelemetryExtension" not in names({})
    assert "PrivateOpenTelemetryExtension" in names({"otel_endpoint": "http://127.0.0.1:4318/v1/traces"})


async def test_an_operation_is_traced_without_its_arguments(database: Database) -> None:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("dpor-gateway-test", SimpleSpanProcessor(exporter))
    schema = _schema([tracing(provider)])
    async with database.write() as session:
        await factories.add_flushed(session, factories.tenant(display_name="Traced Ltd"))

    from resolvers.context import RequestContext

    context = RequestContext(
        request=None,
        response=None,
        database=database,  # type: ignore[arg-type]
        request_id="trace-test",
        principal=principal(Role.PLATFORM_ADMIN),
    )
    result = await schema.execute(
        'query Named { tenants(first: 5, filter: {search: "secret-search-text"}) { edges { node { displayName } } } }',
        context_value=context,
    )
    assert result.errors is None
    spans = exporter.get_finished_spans()
    assert "GraphQL Query: Named" in {span.name for span in spans}
    assert any(span.name.startswith("GraphQL Parsing") for span in spans)
    recorded = repr([dict(span.attributes or {}) for span in spans])
    assert "secret-search-text" not in recorded
    operation = next(span for span in spans if span.name == "GraphQL Query: Named")
    assert len(str((operation.attributes or {})["graphql.document.sha256"])) == 64
    provider.shutdown()
