"""What the schema extensions are told of the deployment: limits, caches, trusted documents, tracing, modes.

gateway/wiring.py builds it from the settings (nothing in schema/ reads `Settings`). Frozen and hashable: the
schema is built once per configuration (schema.root.build_schema caches on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schema.extensions.usage_rows import UsageBounds


@dataclass(frozen=True, slots=True)
class ExtensionConfig:
    # Production masks unexpected errors and hides field suggestions.
    production: bool
    # Off: introspection is refused and errors name no schema member the document did not spell.
    introspection: bool
    # Static limits on the document (operation_limits.py, MaxTokensLimiter).
    max_tokens: int
    max_depth: int
    max_aliases: int
    max_root_fields: int
    max_directives_per_field: int
    max_introspection_depth: int
    parse_cache_size: int
    validation_cache_size: int
    # Cost (cost.py): the bound of every connection's `first`, the most an operation may cost, usage pricing.
    max_page_size: int
    max_cost: int
    usage: UsageBounds
    rate_limit: bool
    request_timeout_seconds: float
    compiled_reads: bool
    compiled_plan_cache_size: int
    fast_lane: bool
    # Trusted documents (persisted.py): a manifest for everyone, "only" mode, and manifests per OAuth client.
    persisted_documents_path: Path | None
    persisted_documents_only: bool
    persisted_documents_per_client: tuple[tuple[str, Path], ...]
    # OpenTelemetry over OTLP/HTTP (tracing.py); None: no tracing.
    otel_endpoint: str | None
    otel_service_name: str
