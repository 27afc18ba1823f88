"""Alembic environment: async engines, URL from the gateway's settings unless the caller passes one."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from sqlalchemy.engine import Connection

from alembic import context
from db.engine import create_engine
from db.models import Base
from db.types import ExactDecimal, UTCDateTime
from gateway.settings import load_settings

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render our column types as the plain SQLAlchemy types they store, so migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, ExactDecimal):
        return f"sa.Numeric({obj.precision}, {obj.scale}).with_variant(sa.BigInteger(), 'sqlite')"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Row-level security (revision 0012_rls_policies) holds the tables' owner too: a migration moving rows
            # says it is system work, for its own transaction only.
            connection.exec_driver_sql(
                "SELECT set_config('dpor.caller', 'system', true), set_config('dpor.task', 'migration', true)"
            )
        context.run_migrations()


async def _run_online() -> None:
    url: str = config.attributes.get("database_url") or load_settings().migrations_url
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    existing: Any = config.attributes.get("connection")
    if existing is not None:
        _run(existing)
        return
    asyncio.run(_run_online())


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them against a database")
run_migrations_online()
