"""With read replicas (db/replicas.py), a mutation reads the primary too, from its first statement.

A mutation reads before it writes (the caller's scope, the rows it checks and locks); read on a replica, those
could be a moment old and the mutation would decide on a state the primary has already left. The request's
database learns it is a mutation here, before any resolver runs (the compiled path and the fast lane serve
queries only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from db.replicas import RoutedRequestDatabase


class MutationsReadThePrimary(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        database = getattr(execution.context, "database", None)
        if execution.operation_type is OperationType.MUTATION and isinstance(database, RoutedRequestDatabase):
            await database.reads_on_primary()
        yield
