"""Whether the connection pools of every gateway process fit in what PostgreSQL will give them.

Each process may open `pool_size` connections plus as many again on overflow (db/engine.py). When all the
processes together may ask for more than the server accepts (`max_connections` less the slots reserved for
superusers, or the role's CONNECTION LIMIT), the last connections are refused under load with SQLSTATE 53300
("too many clients"), which the API answers as DATABASE_UNAVAILABLE: better said once, at start-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.engine import is_sqlite

logger = logging.getLogger(__name__)

_LIMITS = text(
    "SELECT current_setting('max_connections')::int,"
    " current_setting('superuser_reserved_connections')::int"
    " + coalesce(current_setting('reserved_connections', true), '0')::int,"
    " (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user)"
)


@dataclass(frozen=True, slots=True)
class PoolBudget:
    processes: int
    pool_size: int
    max_connections: int
    reserved: int
    # The role's CONNECTION LIMIT; -1 when it has none.
    role_limit: int

    @property
    def needed(self) -> int:
        return self.processes * self.pool_size * 2  # pool plus overflow (db/engine.py: max_overflow=pool_size)

    @property
    def available(self) -> int:
        server = self.max_connections - self.reserved
        return server if self.role_limit < 0 else min(server, self.role_limit)

    @property
    def fits(self) -> bool:
        return self.needed <= self.available

    def describe(self) -> str:
        role = f", role CONNECTION LIMIT {self.role_limit}" if self.role_limit >= 0 else ""
        return (
            f"{self.processes} worker(s) x (DPOR_DB_POOL_SIZE {self.pool_size} + {self.pool_size} overflow) may open "
            f"{self.needed} PostgreSQL connections, but the server gives {self.available} (max_connections "
            f"{self.max_connections} - {self.reserved} reserved{role}); under load requests will be refused "
            "with DATABASE_UNAVAILABLE: lower DPOR_DB_POOL_SIZE or --workers, or raise max_connections"
        )


async def check(url: str, *, pool_size: int, processes: int) -> PoolBudget | None:
    """The budget, read from the server; None on SQLite, or when the server cannot be asked (said in the log:
    the readiness probe reports a database that is down)."""
    if is_sqlite(url):
        return None
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            max_connections, reserved, role_limit = (await connection.execute(_LIMITS)).one()
    except (OSError, SQLAlchemyError) as error:
        logger.warning("could not read the server's max_connections: %s", type(error).__name__)
        return None
    finally:
        await engine.dispose()
    return PoolBudget(processes, pool_size, max_connections, reserved, role_limit if role_limit is not None else -1)
