"""The caller of the current request: its principal, and its scope resolved against the database once.

Top-level fields run concurrently; the first to ask starts the resolution and the others await the same task, so
the request makes one scope statement at most (none for callers whose token names no tenant or partner).
"""

from __future__ import annotations

import asyncio

from auth.principal import Principal
from auth.row_security import caller_of
from auth.scope import CallerScope, resolve_scope, scope_from_known_ids
from db import row_security
from db.row_security import SystemTask
from resolvers.context import RequestContext
from resolvers.errors import Unauthenticated
from resolvers.loaders import Loaders


def principal_of(context: RequestContext) -> Principal:
    if context.principal is None:
        # The bearer middleware answers 401 before execution; this guards code paths that bypass it.
        raise Unauthenticated("a bearer token is required")
    return context.principal


async def _resolve(context: RequestContext, principal: Principal) -> CallerScope:
    # Which tenant and partner a token names, and whether its delegation is active, is read for nobody yet.
    context.database = context.database.acting(row_security.system(SystemTask.RESOLVE_CALLER))
    async with context.database.read() as session:
        scope = await resolve_scope(session, principal)
    context.database = context.database.acting(caller_of(scope))
    return scope


async def caller_scope(context: RequestContext) -> CallerScope:
    """The caller's scope; from then on the request's database works for it (row-level security's caller)."""
    principal = principal_of(context)
    task = context.scope_task
    if task is None:
        # Most callers' scope needs no statement, so no session (and no pooled connection) either.
        known = scope_from_known_ids(context.database.engine.sync_engine, principal)
        if known is not None:
            context.database = context.database.acting(caller_of(known))
            return known
        task = asyncio.ensure_future(_resolve(context, principal))
        context.scope_task = task
    return await task


async def loaders_of(context: RequestContext) -> Loaders:
    """The request's DataLoaders, bound to the caller's scope (created on first use)."""
    if context.loaders is None:
        scope = await caller_scope(context)
        if context.loaders is None:  # another field may have created them while we awaited
            context.loaders = Loaders(context.database, scope)
    return context.loaders
