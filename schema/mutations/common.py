"""What every mutation shares: the operation guard, the idempotency key's description, and `run`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from resolvers.context import RequestContext
from resolvers.mutation import Work, perform
from schema.permissions import OperationPolicy

A = TypeVar("A")
R = TypeVar("R")
P = TypeVar("P")

# Root operations are checked against auth.policy.OPERATIONS before they run.
GUARDED: list[type[BasePermission]] = [OperationPolicy]

IDEMPOTENCY_KEY = (
    "Optional idempotency key (1-128 characters): the same key and input from the same caller returns the first"
    " result and writes nothing; the same key with another input is CONFLICT."
)


async def run(info: Info[RequestContext, None], work: Work[A, R], args: A, present: Callable[[R], P]) -> P:
    """The resolver function `work` on the decoded `args` in the request's transaction; its result as the payload.

    What `work` returns is already read under the caller's row filters (resolvers.in_reach): `present` only
    converts rows into GraphQL objects."""
    return present(await perform(info.context, work, args))
