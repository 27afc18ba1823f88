"""Schema extensions (limits, cost, persisted documents, observability), one small module each.

`for_settings` is the single place that decides which run, in which order. Order matters where hooks nest: a
hook entered earlier exits later, so observability (outermost) sees every outcome, and masking exits after the
error codes were assigned. Strawberry does not unwind the hooks of a step when one of them raises on entry, so
refusals are raised from hooks that come after any hook holding state (see the deadline and persisted.py).
Every extension is passed as a factory (`partial`): Strawberry builds a fresh instance per operation, so no
per-request state is shared between concurrent operations; what must be shared (validation rule classes, the
manifest, the rate limiter) is built here once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension

from gateway.persisted import Manifest
from resolvers.compiled.runner import CompiledReads
from schema import global_id
from schema.extensions.caching import CachedValidation, DocumentParserCache
from schema.extensions.compiled_reads import CompiledReadsExtension
from schema.extensions.cost import CostLimit, UsageBounds
from schema.extensions.deadline import ExecutionDeadline
from schema.extensions.error_codes import ErrorCodes
from schema.extensions.masking import MaskUnexpectedErrors
from schema.extensions.nul_characters import RefuseNulCharacters
from schema.extensions.observability import Observability
from schema.extensions.operation_limits import limit_rules
from schema.extensions.persisted import PersistedDocuments
from schema.extensions.rate_limit import RateLimit
from schema.extensions.schema_names import HideSchemaNames
from schema.extensions.tracing import otlp_processor, tracer_provider, tracing

if TYPE_CHECKING:
    from gateway.settings import Settings

ExtensionFactory = type[SchemaExtension] | Callable[[], SchemaExtension]


def for_settings(settings: Settings) -> list[ExtensionFactory]:
    rules = limit_rules(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_root_fields=settings.max_root_fields,
        max_directives_per_field=settings.max_directives_per_field,
        max_introspection_depth=settings.max_introspection_depth,
    )
    if settings.is_production and not settings.introspection_in_production:
        rules.append(NoSchemaIntrospectionCustomRule)
    manifest = Manifest.load(settings.persisted_documents_path) if settings.persisted_documents_path else None
    per_client = {client: Manifest.load(path) for client, path in settings.persisted_documents_per_client}

    extensions: list[ExtensionFactory] = [Observability]
    if settings.otel_endpoint:
        provider = tracer_provider(settings.otel_service_name, otlp_processor(settings.otel_endpoint))
        extensions.append(tracing(provider))
    if settings.is_production:
        extensions.append(MaskUnexpectedErrors)
    if settings.is_production and not settings.introspection_in_production:
        # Before ErrorCodes, so it exits after it: it rewrites messages of errors that already have their code.
        extensions.append(HideSchemaNames)
    extensions += [
        ErrorCodes,
        partial(
            PersistedDocuments,
            manifest=manifest,
            per_client=per_client,
            only=settings.persisted_documents_mode == "only",
        ),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(DocumentParserCache, maxsize=settings.parse_cache_size),
        partial(AddValidationRules, rules),
        partial(CachedValidation, maxsize=settings.validation_cache_size, hide_suggestions=settings.is_production),
        partial(
            CostLimit,
            max_cost=settings.max_cost,
            max_page_size=settings.max_page_size,
            usage=UsageBounds(group_size=settings.usage_group_size, max_rows=settings.max_usage_rows),
        ),
        # Before the rate limit: a refused operation is not charged.
        RefuseNulCharacters,
    ]
    if settings.rate_limit_enabled:
        extensions.append(RateLimit)
    if settings.compiled_reads:
        reads = CompiledReads(
            global_id.decode_any, max_page_size=settings.max_page_size, maxsize=settings.compiled_plan_cache_size
        )
        extensions.append(partial(CompiledReadsExtension, reads=reads, seconds=settings.request_timeout_seconds))
    # Last among the `on_execute` hooks: Strawberry does not exit hooks entered before one that raises, and an
    # armed deadline left behind would cancel its task later. Cost and rate limit refuse before it is armed.
    extensions.append(partial(ExecutionDeadline, seconds=settings.request_timeout_seconds))
    return extensions
