"""One mutation, one transaction: commit on success, roll back on any error, database clashes become CONFLICT.

The partial unique indexes are the backstop behind row locks; when one fires (or PostgreSQL reports a deadlock or
serialization failure), the transaction is already rolled back and the caller gets CONFLICT, never a 5xx.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import Database
from resolvers.errors import Conflict

T = TypeVar("T")
log = logging.getLogger(__name__)

# SQLSTATEs meaning "another transaction got there first": serialization_failure, deadlock_detected.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def _sqlstate(error: DBAPIError) -> str | None:
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)


async def in_transaction(database: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        async with database.write() as session:
            return await work(session)
    except IntegrityError as error:
        log.info("integrity conflict: %s", error.orig)
        raise Conflict("the change conflicts with a concurrent or existing one; reload and retry") from None
    except DBAPIError as error:
        if _sqlstate(error) in _RETRYABLE_SQLSTATES:
            raise Conflict("the change raced a concurrent one; reload and retry") from None
        raise
