"""Schema extensions (limits, cost, persisted documents, observability), one small module each.

`for_config` is the single place that decides which run, in which order (ExtensionConfig, built from the settings
by gateway/wiring.py). Order matters where hooks nest: a
hook entered earlier exits later, so observability (outermost) sees every outcome, and masking exits after the
error codes were assigned. Strawberry does not unwind the hooks of a step when one of them raises on entry, so
refusals are raised from hooks that come after any hook holding state (see the deadline and persisted.py).
Every extension is passed as a factory (`partial`): Strawberry builds a fresh instance per operation, so no
per-request state is shared between concurrent operations; what must be shared (validation rule classes, the
manifest, the rate limiter) is built here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension

from resolvers.compiled.runner import CompiledReads
from schema import global_id
from schema.extensions.caching import CachedValidation, DocumentParserCache
from schema.extensions.compiled_reads import CompiledReadsExtension
from schema.extensions.config import ExtensionConfig
from schema.extensions.cost import CostLimit
from schema.extensions.deadline import ExecutionDeadline
from schema.extensions.error_codes import ErrorCodes
from schema.extensions.masking import MaskUnexpectedErrors
from schema.extensions.mutations_on_primary import MutationsReadThePrimary
from schema.extensions.nul_characters import RefuseNulCharacters
from schema.extensions.observability import Observability
from schema.extensions.operation_limits import limit_rules
from schema.extensions.persisted import PersistedDocuments, TrustRules
from schema.extensions.persisted_manifest import Manifest
from schema.extensions.rate_limit import RateLimit
from schema.extensions.schema_names import HideSchemaNames
from schema.extensions.tracing import otlp_processor, tracer_provider, tracing
from schema.extensions.websocket_operations import SubscriptionsOnlyOverWebSockets

ExtensionFactory = type[SchemaExtension] | Callable[[], SchemaExtension]


@dataclass(frozen=True, slots=True)
class Shared:
    """What the extensions of one configuration share with each other and with the fast lane (schema/fast_lane.py):
    the trusted documents' rules and the compiled reads with their plan cache."""

    trust: TrustRules
    reads: CompiledReads | None


def shared_for(config: ExtensionConfig) -> Shared:
    """Raises ManifestError when a trusted documents manifest cannot be used."""
    manifest = Manifest.load(config.persisted_documents_path) if config.persisted_documents_path else None
    per_client = {client: Manifest.load(path) for client, path in config.persisted_documents_per_client}
    reads = (
        CompiledReads(
            global_id.decode_any,
            max_page_size=config.max_page_size,
            # The interpreter's row cap per usage field (RequestContext.max_usage_rows) is the same setting.
            max_usage_rows=config.usage.max_rows,
            maxsize=config.compiled_plan_cache_size,
        )
        if config.compiled_reads
        else None
    )
    return Shared(TrustRules(manifest, per_client, config.persisted_documents_only), reads)


def for_config(config: ExtensionConfig, shared: Shared | None = None) -> list[ExtensionFactory]:
    """`shared`: what the caller shares with these extensions (the fast lane); made here when not given. Raises
    ManifestError when a trusted documents manifest cannot be used."""
    rules = limit_rules(
        max_depth=config.max_depth,
        max_aliases=config.max_aliases,
        max_root_fields=config.max_root_fields,
        max_directives_per_field=config.max_directives_per_field,
        max_introspection_depth=config.max_introspection_depth,
    )
    if not config.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    shared = shared or shared_for(config)

    extensions: list[ExtensionFactory] = [Observability]
    if config.otel_endpoint:
        provider = tracer_provider(config.otel_service_name, otlp_processor(config.otel_endpoint))
        extensions.append(tracing(provider))
    if config.production:
        extensions.append(MaskUnexpectedErrors)
    if not config.introspection:
        # Before ErrorCodes, so it exits after it: it rewrites messages of errors that already have their code.
        extensions.append(HideSchemaNames)
    extensions += [
        ErrorCodes,
        partial(PersistedDocuments, rules=shared.trust),
        partial(MaxTokensLimiter, max_token_count=config.max_tokens),
        partial(DocumentParserCache, maxsize=config.parse_cache_size),
        partial(AddValidationRules, rules),
        partial(CachedValidation, maxsize=config.validation_cache_size, hide_suggestions=config.production),
        partial(CostLimit, max_cost=config.max_cost, max_page_size=config.max_page_size, usage=config.usage),
        # Before the rate limit: a refused operation is not charged.
        RefuseNulCharacters,
        SubscriptionsOnlyOverWebSockets,
        MutationsReadThePrimary,
    ]
    if config.rate_limit:
        extensions.append(RateLimit)
    if shared.reads is not None:
        extensions.append(partial(CompiledReadsExtension, reads=shared.reads, seconds=config.request_timeout_seconds))
    # Last among the `on_execute` hooks: Strawberry does not exit hooks entered before one that raises, and an
    # armed deadline left behind would cancel its task later. Cost and rate limit refuse before it is armed.
    extensions.append(partial(ExecutionDeadline, seconds=config.request_timeout_seconds))
    return extensions
