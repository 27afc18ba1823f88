"""Whether the role the gateway connects as holds more than it needs (issue 16).

The gateway needs DML on its tables and nothing more (alembic revision 0007 grants that to `dpor_app`). A
superuser, a role with BYPASSRLS, or one that owns a table (or belongs to a role that does: ownership is
inherited) can change the schema, skip row-level security and rewrite append-only history, so a bug or an
injected statement in the gateway could do the same. Production refuses to serve as such a role
(gateway/commands/serve.py); development says so once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from db.engine import is_sqlite

# Ownership counts through membership: pg_has_role(owner, 'USAGE') is true for the owner itself and for every
# role that inherits it.
_FACTS = text(
    "SELECT current_user, r.rolsuper, r.rolbypassrls,"
    " (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c"
    "  WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')"
    "  AND pg_has_role(c.relowner, 'USAGE'))"
    " FROM pg_roles r WHERE r.rolname = current_user"
)


@dataclass(frozen=True, slots=True)
class ConnectionRole:
    name: str
    superuser: bool
    bypasses_row_security: bool
    owned_tables: tuple[str, ...]

    @property
    def problem(self) -> str | None:
        """What the role may do that the gateway must not be able to, in one line; None when it is least-privileged."""
        held = []
        if self.superuser:
            held.append("is a superuser")
        if self.bypasses_row_security:
            held.append("has BYPASSRLS")
        if self.owned_tables:
            shown = ", ".join(self.owned_tables[:3]) + (", ..." if len(self.owned_tables) > 3 else "")
            held.append(f"owns {len(self.owned_tables)} table(s) ({shown})")
        if not held:
            return None
        return (
            f"the database role {self.name!r} {' and '.join(held)}: connect the gateway as a login role IN ROLE "
            "dpor_app (DML only; README, Deployment) and run migrations with DPOR_MIGRATION_DATABASE_URL"
        )


async def read(connection: AsyncConnection) -> ConnectionRole:
    name, superuser, bypass, owned = (await connection.execute(_FACTS)).one()
    return ConnectionRole(name, bool(superuser), bool(bypass), tuple(owned or ()))


async def connection_role(url: str) -> ConnectionRole | None:
    """The role `url` connects as, read from the server; None on SQLite (no roles). Connection errors propagate."""
    if is_sqlite(url):
        return None
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await read(connection)
    finally:
        await engine.dispose()
