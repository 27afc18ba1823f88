"""PostGraphile's schema in the benchmark database: schema.sql applied, its lookup tables filled from the gateway.

The two lookup tables take their rows from the gateway's own definitions, so the SQL cannot drift from them: the
currencies' minor units (resolvers/usage/currencies.py, for rounding attributed amounts) and which token scope
grants which role (auth/claims.py ScopeRoles with the default DPOR_SCOPE_* names the benchmark's tokens carry).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from auth.claims import ScopeRoles
from gateway import wiring
from gateway.settings import Settings
from resolvers.usage.currencies import MINOR_UNITS

SCHEMA_SQL = Path(__file__).resolve().parent / "schema.sql"
API_SCHEMA = "postgraphile_bench"
# The login role of the jwt_rls variant; each request then runs as RLS_ROLE (schema.sql makes both).
AUTHENTICATOR_ROLE = "postgraphile_bench_authenticator"
RLS_ROLE = "postgraphile_bench_user"
# One PostgreSQL server holds the benchmark databases of every size: creating the roles twice at once collides.
_LOCK_KEY = 0x70675F62656E6368  # "pg_bench"


def scope_roles() -> dict[str, str]:
    """Scope -> role name as the gateway reads tokens with its default settings (the benchmark's)."""
    settings = Settings(env="dev", _env_file=None)  # type: ignore[call-arg]
    return {scope: role.value for scope, role in ScopeRoles.from_config(wiring.auth_config(settings)).by_scope.items()}


async def apply_schema(url: str) -> None:
    """prepare_database for callers already in an event loop."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await connection.execute(SCHEMA_SQL.read_text(encoding="utf-8"))
            await connection.executemany(
                "INSERT INTO postgraphile_bench_private.currency_minor_units (currency, digits) VALUES ($1, $2)",
                sorted(MINOR_UNITS.items()),
            )
            await connection.executemany(
                "INSERT INTO postgraphile_bench_private.scope_roles (scope, role) VALUES ($1, $2)",
                sorted(scope_roles().items()),
            )
    finally:
        await connection.close()


def prepare_database(url: str) -> None:
    """Apply schema.sql to the database at `url` (postgresql://, as a superuser) and fill its lookup tables.

    Idempotent: every run makes the schema again, so a change to schema.sql takes effect on the next run.
    """
    asyncio.run(apply_schema(url))


def authenticator_url(url: str) -> str:
    """`url` with the jwt_rls variant's login role instead of its user (the server trusts local connections)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{AUTHENTICATOR_ROLE}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
