"""Running a mutation's resolver for the current request: the caller's scope, one write transaction, the result.

Every mutation's plain function has the shape `(session, scope, request_id, args) -> result` (the request id goes
into its audit event); the schema hands it over with its decoded arguments and converts what comes back, so no
session is opened, and no SQL module imported, under schema/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from auth.scope import CallerScope
from resolvers.caller import caller_scope
from resolvers.context import RequestContext
from resolvers.transaction import in_transaction

A = TypeVar("A")
R = TypeVar("R")

Work = Callable[[AsyncSession, CallerScope, str, A], Awaitable[R]]


async def perform(context: RequestContext, work: Work[A, R], args: A) -> R:
    """`work(session, scope, request_id, args)` in one transaction (auth errors and clashes as in_transaction)."""
    scope = await caller_scope(context)
    request_id = context.request_id
    return await in_transaction(context.database, lambda session: work(session, scope, request_id, args))
