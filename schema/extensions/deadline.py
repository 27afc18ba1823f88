"""A deadline on execution: past it, the operation's work is cancelled and the caller gets TIMEOUT.

`asyncio.timeout` cancels the task running the execution; the cancellation reaches every resolver and the
database call it is awaiting (SQLAlchemy returns or invalidates the connection, asyncpg cancels the statement
on the server), so nothing is left running and no connection stays checked out. The database's own
`statement_timeout` (db/engine.py) is the second line, for time spent in one statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from resolvers.codes import Code
from schema.extensions.errors import limit_error


def timeout_error(seconds: float) -> GraphQLError:
    """What a request past its execution deadline answers (here, and from the compiled path's own bound)."""
    return limit_error(
        f"The operation did not finish within {seconds:g} s and was cancelled.",
        Code.TIMEOUT,
        "requestTimeoutSeconds",
        seconds,
    )


class ExecutionDeadline(SchemaExtension):
    def __init__(self, *, seconds: float) -> None:
        self.seconds = seconds

    async def on_execute(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.seconds):
                yield
        except TimeoutError:
            raise timeout_error(self.seconds) from None
