"""The one place that turns `Settings` into what the layers below gateway/ take, and their errors back into settings.

Nothing below gateway/ reads `Settings` (issue 12): auth/ declares the values it needs as a frozen AuthConfig, the
schema's extensions as a frozen ExtensionConfig. A configuration they cannot use (AuthConfigError naming a field, a
trusted documents ManifestError naming a file) is reported here as the setting to change (SettingsError, one line).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx
import strawberry

from auth.authenticator import Authenticator
from auth.config import AuthConfig, AuthConfigError
from auth.principal import Role
from auth.scope import share_known_ids
from db import change_notifications
from db.engine import Database
from db.read_pins import ReadPins
from db.replicas import Replicas
from gateway import metrics
from gateway.settings import Settings, SettingsError
from resolvers.webhooks.delivery import DeliveryConfig
from schema.extensions.config import ExtensionConfig
from schema.extensions.persisted_manifest import ManifestError
from schema.extensions.usage_rows import UsageBounds
from schema.root import build_schema

# The setting behind each AuthConfig field (tests/auth/test_wiring.py checks that every field has one).
AUTH_SETTINGS = {
    "production": "DPOR_ENV",
    "issuer": "DPOR_OAUTH_ISSUER",
    "audience": "DPOR_OAUTH_AUDIENCE",
    "jwks_url": "DPOR_OAUTH_JWKS_URL",
    "jwks_file": "DPOR_OAUTH_JWKS_FILE",
    "clock_skew_seconds": "DPOR_OAUTH_CLOCK_SKEW_SECONDS",
    "max_token_lifetime_seconds": "DPOR_OAUTH_MAX_TOKEN_LIFETIME_SECONDS",
    "realm": "DPOR_OAUTH_REALM",
    "scope_names": "DPOR_SCOPE_*",
    "dev_key_dir": "DPOR_VAR_DIR",
}

_log = logging.getLogger(__name__)


def database(settings: Settings) -> Database:
    """The primary, with its read replicas (DPOR_DATABASE_READ_URLS) when there are any."""
    options = {
        "pool_size": settings.db_pool_size,
        "echo": settings.db_echo,
        "statement_timeout_ms": settings.db_statement_timeout_ms,
        "pgbouncer": settings.database_pgbouncer,
    }
    primary = Database.from_url(settings.database_url, **options)  # type: ignore[arg-type]
    if settings.database_read_urls:
        members = [Database.from_url(url, **options) for url in settings.database_read_urls]  # type: ignore[arg-type]
        for member in members:
            share_known_ids(member.engine.sync_engine, primary.engine.sync_engine)
        primary.replicas = Replicas(
            primary,
            members,
            max_lag_seconds=settings.database_replica_max_lag_seconds,
            check_seconds=settings.database_replica_check_seconds,
            pins=ReadPins(settings.database_read_your_writes_seconds, redis_url=settings.redis_url),
            on_route=lambda route: metrics.READ_ROUTES.labels(route).inc(),
        )
    return primary


def auth_config(settings: Settings) -> AuthConfig:
    return AuthConfig(
        production=settings.is_production,
        issuer=settings.oauth_issuer,
        audience=settings.oauth_audience,
        jwks_url=settings.oauth_jwks_url,
        jwks_file=settings.oauth_jwks_file,
        clock_skew_seconds=settings.oauth_clock_skew_seconds,
        max_token_lifetime_seconds=settings.oauth_max_token_lifetime_seconds,
        realm=settings.oauth_realm,
        scope_names={
            Role.OWNER: settings.scope_owner,
            Role.SERVICE_ADMIN: settings.scope_service_admin,
            Role.CO_ADMIN: settings.scope_co_admin,
            Role.DELEGATED_ADMIN: settings.scope_delegated_admin,
            Role.PARTNER: settings.scope_partner,
            Role.PLATFORM_ADMIN: settings.scope_platform_admin,
            Role.USAGE_INGEST: settings.scope_usage_ingest,
        },
        dev_key_dir=settings.var_dir,
    )


def settings_error(error: AuthConfigError) -> SettingsError:
    """The auth configuration error as the setting to change (an error of no one field keeps its message)."""
    if error.field is None:
        return SettingsError(str(error))
    return SettingsError(f"invalid setting {AUTH_SETTINGS[error.field]}: {error}")


def authenticator(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Authenticator:
    """Raises SettingsError (one line, naming the setting) when the key source cannot be used."""
    try:
        return Authenticator.from_config(auth_config(settings), transport=transport, clock=clock)
    except AuthConfigError as error:
        raise settings_error(error) from None


def extension_config(settings: Settings) -> ExtensionConfig:
    return ExtensionConfig(
        production=settings.is_production,
        introspection=not settings.is_production or settings.introspection_in_production,
        max_tokens=settings.max_tokens,
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_root_fields=settings.max_root_fields,
        max_directives_per_field=settings.max_directives_per_field,
        max_introspection_depth=settings.max_introspection_depth,
        parse_cache_size=settings.parse_cache_size,
        validation_cache_size=settings.validation_cache_size,
        max_page_size=settings.max_page_size,
        max_cost=settings.max_cost,
        usage=UsageBounds(group_size=settings.usage_group_size, max_rows=settings.max_usage_rows),
        rate_limit=settings.rate_limit_enabled,
        request_timeout_seconds=settings.request_timeout_seconds,
        compiled_reads=settings.compiled_reads,
        compiled_plan_cache_size=settings.compiled_plan_cache_size,
        fast_lane=settings.fast_lane,
        persisted_documents_path=settings.persisted_documents_path,
        persisted_documents_only=settings.persisted_documents_mode == "only",
        persisted_documents_per_client=settings.persisted_documents_per_client,
        otel_endpoint=settings.otel_endpoint,
        otel_service_name=settings.otel_service_name,
    )


def api_schema(settings: Settings) -> strawberry.Schema:
    """The API's schema; a trusted documents manifest that cannot be used stops start-up in one line."""
    try:
        return build_schema(extension_config(settings))
    except ManifestError as error:
        setting = (
            "DPOR_PERSISTED_DOCUMENTS_PATH"
            if error.path is None or error.path == settings.persisted_documents_path
            else "DPOR_PERSISTED_DOCUMENTS_PER_CLIENT"
        )
        raise SettingsError(f"invalid setting {setting}: {error}") from None


def delivery_config(settings: Settings) -> DeliveryConfig:
    """The webhook delivery worker's configuration (resolvers/webhooks/delivery.py)."""
    return DeliveryConfig(
        retry_schedule=settings.webhook_retry_schedule_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        max_response_bytes=settings.webhook_max_response_bytes,
        allow_private=settings.webhook_allow_private_addresses,
        batch=settings.webhook_batch_size,
        lease_seconds=settings.webhook_lease_seconds,
    )


def change_listener(
    settings: Settings, database: Database
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None:
    """The LISTEN loop that wakes this process's change event pollers (db/change_notifications.py): PostgreSQL
    only, and not when DPOR_CHANGE_NOTIFICATIONS is off (the pollers then keep to their intervals), nor behind
    PgBouncer: in transaction pooling a LISTEN holds no server connection, so nothing would ever ring."""
    if database.dialect != "postgresql" or not settings.change_notifications or settings.database_pgbouncer:
        return None
    return lambda stop: change_notifications.listen(database.engine, stop)


def change_event_retention(settings: Settings) -> timedelta | None:
    """How long the sweep keeps published change events and finished deliveries (None: for ever)."""
    days = settings.change_event_retention_days
    return timedelta(days=days) if days else None


async def decide_row_security(database: Database) -> None:
    """Ask the server once, at start-up, whether the gateway's role is subject to row-level security (then every
    transaction tells the policies its caller) or exempt from it (a superuser or BYPASSRLS role, as in development:
    nothing is told). A database that cannot be reached now is asked by its first transaction instead."""
    if database.dialect != "postgresql":
        return
    try:
        enforced = await database.row_security.enforced(database.engine)
    except Exception as error:  # /readyz reports the database; start-up does not wait for it
        _log.warning("could not ask whether row-level security binds the gateway's role (%s); asked later", error)
        return
    _log.info("row-level security: %s", "each transaction names its caller" if enforced else "the role is exempt")
