"""One typed settings object, read from `DPOR_*` environment variables and a `.env` file."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "DPOR_"
# Variables with these prefixes belong to the test suite and tooling, not to the gateway.
FOREIGN_PREFIXES = ("DPOR_TEST_", "DPOR_BENCH_")
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = r"^[\x21\x23-\x5b\x5d-\x7e]+$"


# The async drivers the gateway runs on (db/engine.py): a URL naming another driver, or a sync one, would fail
# deep inside SQLAlchemy on the first connection, with a traceback instead of a line naming the setting.
DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class SettingsError(Exception):
    """A setting is unknown or invalid; the message names it in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="forbid", frozen=True)

    env: Literal["dev", "production"] = "dev"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'dpor-gateway.sqlite3'}"
    # Migrations run as the tables' owner; the gateway as a least-privileged role (issue 16). Unset: the same URL
    # (SQLite, and development on PostgreSQL).
    migration_database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Where dev-only state lives (the SQLite file, the dev signing key). Never committed.
    var_dir: Path = PROJECT_ROOT / "var"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Read replicas (db/replicas.py): PostgreSQL streaming replicas of the primary, comma-separated, one host each.
    # Read-only requests go to them in turn while the health check (every `database_replica_check_seconds`) finds
    # them up and at most `database_replica_max_lag_seconds` behind; anything else reads the primary. A caller's
    # reads stay on the primary for `database_read_your_writes_seconds` after its write (in Redis too when
    # DPOR_REDIS_URL is set, so every process knows).
    database_read_urls: Annotated[tuple[str, ...], NoDecode] = ()
    database_replica_max_lag_seconds: float = Field(default=2.0, gt=0, le=3_600)
    database_replica_check_seconds: float = Field(default=1.0, gt=0, le=60)
    database_read_your_writes_seconds: float = Field(default=5.0, ge=0, le=3_600)
    # The database URLs (primary and replicas) lead to PgBouncer in transaction mode: no prepared statements kept
    # across statements, no startup parameters (db/engine.py, README "PgBouncer").
    database_pgbouncer: bool = False
    db_echo: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False

    # Access tokens (auth/): who issues them, for whom, where their keys are. Unset in dev: the dev key.
    oauth_issuer: str | None = Field(default=None, min_length=1, validate_default=True)
    oauth_audience: str | None = Field(default=None, min_length=1, validate_default=True)
    oauth_jwks_url: str | None = Field(default=None, pattern=r"^https?://")
    oauth_jwks_file: Path | None = Field(default=None, validate_default=True)
    oauth_clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    # Longest accepted token lifetime, `exp` - `iat` (0: no maximum). Issuers mint access tokens for an hour or
    # so; one valid for a century is a leaked key's or a misconfigured issuer's.
    oauth_max_token_lifetime_seconds: int = Field(default=86_400, ge=0)
    oauth_realm: str = Field(default="dpor-gateway", pattern=r'^[^"\\\x00-\x1f]+$')
    # The scope (RFC 6749 section 3.3 scope-token) that grants each role.
    scope_owner: str = Field(default="dpor.tenant.owner", pattern=_SCOPE_TOKEN)
    scope_service_admin: str = Field(default="dpor.tenant.service_admin", pattern=_SCOPE_TOKEN)
    scope_co_admin: str = Field(default="dpor.tenant.co_admin", pattern=_SCOPE_TOKEN)
    scope_delegated_admin: str = Field(default="dpor.tenant.delegated_admin", pattern=_SCOPE_TOKEN)
    scope_partner: str = Field(default="dpor.partner.read", pattern=_SCOPE_TOKEN)
    scope_platform_admin: str = Field(default="dpor.admin", pattern=_SCOPE_TOKEN)
    scope_usage_ingest: str = Field(default="dpor.usage.write", pattern=_SCOPE_TOKEN)

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            driver = make_url(value).drivername
        except ArgumentError:
            raise ValueError("not a database URL (e.g. postgresql+asyncpg://user@host/db)") from None
        if driver not in DATABASE_DRIVERS:
            hint = " (postgresql+asyncpg://...)" if driver.startswith("postgres") else ""
            raise ValueError(f"driver {driver!r} is not supported{hint}; use one of {', '.join(DATABASE_DRIVERS)}")
        return value

    @field_validator("database_read_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("database_read_urls")
    @classmethod
    def _replica_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if cls._supported_database(url) is not None and make_url(url).drivername != "postgresql+asyncpg":
                raise ValueError("read replicas are PostgreSQL streaming replicas (postgresql+asyncpg://...)")
        return value

    @field_validator("oauth_issuer", "oauth_audience")
    @classmethod
    def _required_in_production(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A production gateway that guessed its issuer or audience would accept tokens meant for others.
        if value is None and info.data.get("env") == "production":
            raise ValueError("required when DPOR_ENV=production")
        return value

    @field_validator("oauth_jwks_url")
    @classmethod
    def _https_in_production(cls, value: str | None, info: ValidationInfo) -> str | None:
        # RFC 7517 section 9.1 and RFC 8414 section 2 (jwks_uri): keys fetched in clear text can be swapped.
        if value is not None and not value.startswith("https://") and info.data.get("env") == "production":
            raise ValueError("must be an https:// URL when DPOR_ENV=production")
        return value

    @field_validator("oauth_jwks_file")
    @classmethod
    def _one_key_source(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        has_url = info.data.get("oauth_jwks_url") is not None
        if value is not None and has_url:
            raise ValueError("set DPOR_OAUTH_JWKS_URL or DPOR_OAUTH_JWKS_FILE, not both")
        if value is None and not has_url and info.data.get("env") == "production":
            raise ValueError("DPOR_OAUTH_JWKS_URL or DPOR_OAUTH_JWKS_FILE is required when DPOR_ENV=production")
        return value

    # Hardening: limits, cost, rate limits, trusted documents, production behaviour (schema/extensions,
    # gateway/graphql_view.py). Each limit is refused with its own error code naming the value
    # (resolvers.codes).
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    # The body limit for callers holding the usage ingest role (and no other), whose `ingestUsage` batches
    # are large by design: 5,000 records with GUID meter ids and real meter names measure 1.2 to 1.6 MB, and a
    # batch whose every string is as long as validation allows 3.7 MB.
    max_ingest_body_bytes: int = Field(default=4_000_000, ge=1_024)
    # HTTP connection bounds, per worker process (gateway/http_protocol.py, gateway/refusals.py): the request
    # line and headers must arrive within `http_header_timeout_seconds` of the connection opening (or of the
    # previous response), the body within `http_body_timeout_seconds` of the headers; an idle keep-alive
    # connection is closed after `http_keep_alive_seconds`; beyond `http_max_connections` open connections a
    # new one is closed at once.
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)
    http_keep_alive_seconds: int = Field(default=5, ge=1)
    http_max_connections: int = Field(default=1_000, ge=1)
    # The request line and headers together, at most (a bearer token takes a few KiB).
    http_max_header_bytes: int = Field(default=65_536, ge=8_192)
    max_tokens: int = Field(default=2_000, ge=10)
    max_depth: int = Field(default=12, ge=1)
    # Root __schema/__type fields only: the standard introspection query (GraphiQL, codegen) is 14 levels deep.
    max_introspection_depth: int = Field(default=15, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_root_fields: int = Field(default=10, ge=1)
    max_directives_per_field: int = Field(default=4, ge=0)
    batching: bool = False
    max_batch_operations: int = Field(default=10, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    # Static cost: connections multiply by `first` (GitHub's node count). Rejected before execution above
    # this.
    max_cost: int = Field(default=50_000, ge=1)
    # Usage aggregates cost the rows they can return: a grouping key the filter does not pin (SUBSCRIPTION,
    # TENANT, PARTNER, SERVICE) counts this many groups. An operation that may return more than
    # `max_usage_rows` usage rows is refused (TOO_MANY_USAGE_ROWS) before any SQL runs.
    usage_group_size: int = Field(default=20, ge=1)
    max_usage_rows: int = Field(default=10_000, ge=1)
    # Token bucket per principal, in cost points: `rate_limit_points` refill evenly over
    # `rate_limit_window_seconds`.
    rate_limit_enabled: bool = True
    rate_limit_points: int = Field(default=500_000, ge=1)
    rate_limit_window_seconds: int = Field(default=3_600, ge=1)
    # DPOR invitation codes that redeem nothing, per caller, before its code lookups are RATE_LIMITED (a bucket of
    # their own, refilled evenly over the window; on with the rate limit, in Redis with it when configured).
    invitation_code_failures: int = Field(default=10, ge=1, le=10_000)
    invitation_code_window_seconds: int = Field(default=900, ge=1, le=86_400)
    # Set: the budget lives in Redis, shared by every gateway process (gateway/ratelimit/redis.py).
    redis_url: str | None = None
    # Without Redis each worker process keeps its own buckets, so `serve --workers N` grants N budgets. In
    # production that refuses to start unless this says it is meant (`serve` warns about it in dev).
    rate_limit_per_process: bool = False
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # PostgreSQL `statement_timeout` for every connection; 0 disables it.
    db_statement_timeout_ms: int = Field(default=5_000, ge=0)
    parse_cache_size: int = Field(default=512, ge=1)
    validation_cache_size: int = Field(default=512, ge=1)
    # Queries the compiler knows are served by one SQL statement on PostgreSQL (resolvers/compiled/).
    compiled_reads: bool = True
    compiled_plan_cache_size: int = Field(default=1024, ge=1)
    # Repeats of a compiled query skip Strawberry's machinery, through the same checks (schema/fast_lane.py).
    fast_lane: bool = True
    # Production turns introspection off unless this is set; development always allows it.
    introspection_in_production: bool = False
    # Tuples, not lists: settings are hashed (schema.root caches the schema per settings).
    cors_origins: tuple[str, ...] = ()
    # Trusted documents: a manifest (sha256 -> document, or Apollo's persisted query manifest). "allow" runs
    # listed documents by hash and any other document too; "only" runs listed documents only.
    persisted_documents_path: Path | None = None
    persisted_documents_mode: Literal["allow", "only"] = "allow"
    # Optional narrowing per OAuth client: (client_id, manifest path) pairs, e.g. `[["mobile", "/etc/m.json"]]`;
    # such a client may run only the documents of its manifest.
    persisted_documents_per_client: tuple[tuple[str, Path], ...] = ()
    # Time-driven changes (resolvers/sweep.py: expired delegated admin relationships and their admin links, claims
    # past their decline window): every
    # `serve` worker sweeps this often (0: never; then run `dpor-gateway sweep` from a scheduler). The rows get the
    # instants they are due at whatever the lag; the lag is how long they say it late.
    sweep_interval_seconds: float = Field(default=60.0, ge=0)
    # How long a tenant's owner may decline a partner's claim (resolvers/claims.py); fixed on each claim when made.
    claim_decline_window_days: int = Field(default=30, ge=1, le=365)
    # Webhooks (issue 15, resolvers/webhooks/). Every `serve` worker runs a delivery worker that polls this often
    # when idle (0: none; then run `dpor-gateway deliver`). Retries wait these delays in turn (+/-20% jitter), the
    # dead letter follows the last; the default is Svix's schedule, about 27.6 hours.
    webhook_delivery_interval_seconds: float = Field(default=1.0, ge=0)
    webhook_retry_schedule_seconds: tuple[float, ...] = Field(
        default=(5, 300, 1_800, 7_200, 18_000, 36_000, 36_000), min_length=0, max_length=50
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_response_bytes: int = Field(default=65_536, ge=0, le=10_000_000)
    webhook_batch_size: int = Field(default=50, ge=1, le=1_000)
    # How long a worker holds a delivery it took: a worker that dies mid-attempt loses it then, and the attempt is
    # made again (same webhook-id). Longer than an attempt may take (checked against the timeout).
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    # Webhook URLs may name loopback, private and link-local hosts and use http:// (development and tests with a
    # local receiver): refused in production, where it would open the gateway's network to its callers.
    webhook_allow_private_addresses: bool = False
    # The sweep prunes webhook deliveries DELIVERED or DEAD, and published change events with no delivery pending,
    # older than this (resolvers/retention.py; 0: keep them for ever). The audit log keeps every change regardless.
    change_event_retention_days: int = Field(default=30, ge=0, le=3_650)
    # GraphQL subscriptions (issue 15, graphql-transport-ws on /graphql): each worker's change feed polls the
    # change events this often while it has subscribers (resolvers/change_feed.py); a client that sends no
    # `connection_init` in time is closed (4408); one connection holds at most so many subscriptions (one more
    # is answered with an `error` message).
    subscription_poll_interval_seconds: float = Field(default=0.2, gt=0, le=60)
    # PostgreSQL: each process LISTENs on one connection of its own, and a trigger NOTIFYs it when a change event
    # commits or is published, so the change feed and the webhook worker poll at once; their intervals above are
    # the safety net (db/change_notifications.py). Turn off where the database URL cannot LISTEN (a transaction-
    # pooling PgBouncer): the pollers then keep to their intervals.
    change_notifications: bool = True
    subscription_init_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1_000)
    # Open websockets per caller (token subject and client), counted in Redis across every process when
    # DPOR_REDIS_URL is set, else per process (`serve --workers N` then allows N times as many); one more is
    # closed with 4429 (gateway/websocket_limits.py). A connection with no subscription running for
    # `websocket_idle_timeout_seconds` is closed with 4408 (gateway/websocket_handler.py).
    max_websockets_per_caller: int = Field(default=10, ge=1, le=10_000)
    websocket_idle_timeout_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # OpenTelemetry: spans exported over OTLP/HTTP to this endpoint (unset: no tracing).
    otel_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    otel_service_name: str = "dpor-gateway"

    # Checks across settings raise ValueError with a message that starts with the setting to change
    # (load_settings puts it after "invalid setting", as it does a field's name).
    @model_validator(mode="after")
    def _cost_fits_the_budget(self) -> Settings:
        # An operation costing more than a full bucket could never run: it would be told to retry forever.
        if self.rate_limit_enabled and self.max_cost > self.rate_limit_points:
            raise ValueError(
                f"DPOR_RATE_LIMIT_POINTS: {self.rate_limit_points} is below DPOR_MAX_COST ({self.max_cost}); "
                "an operation costing more than a full bucket could never run"
            )
        return self

    @model_validator(mode="after")
    def _no_private_webhooks_in_production(self) -> Settings:
        if self.webhook_allow_private_addresses and self.env == "production":
            raise ValueError(
                "DPOR_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: not allowed when DPOR_ENV=production (it lets callers make the"
                " gateway send requests into its own network)"
            )
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "DPOR_WEBHOOK_LEASE_SECONDS: must be longer than DPOR_WEBHOOK_TIMEOUT_SECONDS (a live worker would lose"
                " its deliveries mid-attempt)"
            )
        if any(delay < 0 for delay in self.webhook_retry_schedule_seconds):
            raise ValueError("DPOR_WEBHOOK_RETRY_SCHEDULE_SECONDS: delays must not be negative")
        return self

    @model_validator(mode="after")
    def _replicas_of_a_postgresql_primary(self) -> Settings:
        if not self.database_read_urls:
            return self
        if make_url(self.database_url).drivername != "postgresql+asyncpg":
            raise ValueError("DPOR_DATABASE_READ_URLS: read replicas need a PostgreSQL primary (DPOR_DATABASE_URL)")
        bound = self.database_replica_max_lag_seconds + self.database_replica_check_seconds
        if self.database_read_your_writes_seconds < bound:
            # A replica serves while its lag, last measured up to one check ago, is within the bound: a caller
            # back sooner than lag + check interval after its write could read a replica without the write.
            raise ValueError(
                f"DPOR_DATABASE_READ_YOUR_WRITES_SECONDS: must be at least DPOR_DATABASE_REPLICA_MAX_LAG_SECONDS +"
                f" DPOR_DATABASE_REPLICA_CHECK_SECONDS ({bound:g}), or a caller could miss its own write on a replica"
            )
        return self

    @cached_property
    def migrations_url(self) -> str:
        """The URL migrations connect with: the owner's."""
        return self.migration_database_url or self.database_url

    @cached_property
    def is_production(self) -> bool:
        return self.env == "production"


def _unknown_variables() -> list[str]:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    return sorted(
        name
        for name in os.environ
        if name.startswith(ENV_PREFIX) and name not in known and not name.startswith(FOREIGN_PREFIXES)
    )


def load_settings(**overrides: object) -> Settings:
    """Read settings, or raise SettingsError naming the first bad one (pydantic ignores unknown env vars)."""
    unknown = _unknown_variables()
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} (known: see gateway/settings.py)")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a check across settings: its message begins with the setting's name
            raise SettingsError(f"invalid setting {message}") from None
        name = ENV_PREFIX + ".".join(str(part) for part in first["loc"]).upper()
        raise SettingsError(f"invalid setting {name}: {message}") from None
