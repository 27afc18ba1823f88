"""Serve a query from one compiled SQL statement when the compiler knows the document (resolvers/compiled/).

Placed after the cost check and the rate limit (a refused operation compiles nothing) and before the execution
deadline: a hook that raises on entry leaves the hooks entered before it unexited, so this one keeps its own time
bound and refuses with the deadline's own TIMEOUT before that deadline is armed. When it answers, Strawberry skips
execution (`execution_context.result` is set); otherwise the interpreter runs as if this hook were not there.
A request the fast lane (schema/fast_lane.py) handed over is not compiled twice: its handover says how the
compiled statement ended. A plan may hold one root field the caller's roles are not granted (planner.Refused):
this hook then adds OperationPolicy's FORBIDDEN for it, as the interpreter would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from graphql import ExecutionResult, GraphQLError, GraphQLNonNull, located_error
from strawberry.extensions import SchemaExtension

from resolvers.caller import caller_scope
from resolvers.compiled.planner import Refused
from resolvers.compiled.runner import Answered, CompiledReads, Operation
from resolvers.context import RequestContext
from schema.extensions.deadline import timeout_error
from schema.permissions import OperationPolicy


class CompiledReadsExtension(SchemaExtension):
    def __init__(self, *, reads: CompiledReads, seconds: float) -> None:
        self.reads = reads
        self.seconds = seconds

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        handover = context.handover if isinstance(context, RequestContext) else None
        if handover is not None and handover.timed_out:
            # The fast lane ran this very statement into the deadline: the same answer, without a second wait.
            raise timeout_error(self.seconds)
        compile_it = handover is None or not handover.compiled_declined
        if isinstance(context, RequestContext) and execution.graphql_document is not None and compile_it:
            try:
                async with asyncio.timeout(self.seconds):
                    answered = await self._compiled(context)
            except TimeoutError:
                raise timeout_error(self.seconds) from None
            if answered is not None:
                # PostgreSQL's JSON text goes into the response body as it is: the view encodes with orjson, which
                # writes a Fragment verbatim (no parse, no re-serialisation).
                data = orjson.Fragment(answered.text)
                if answered.refused is None:
                    execution.result = ExecutionResult(data=data)  # type: ignore[arg-type]
                else:
                    execution.result = self._refused(answered.refused, data)
                context.execution_path = "compiled"
        yield

    def _refused(self, refused: Refused, data: orjson.Fragment) -> ExecutionResult:
        """The interpreter's answer to a root field it refuses before reading anything: the resolver's own error
        (for a field the caller's roles are not granted, OperationPolicy's), located as graphql-core locates a
        resolver's error; null in `data` where the field is nullable, else no data at all (a non-null root's null
        reaches the top)."""
        raised: Exception | None = refused.error
        if raised is None:
            try:
                OperationPolicy().on_unauthorized()
            except GraphQLError as forbidden:
                raised = forbidden
        assert raised is not None, "OperationPolicy.on_unauthorized returned"
        error = located_error(raised, list(refused.nodes), [refused.key])
        field = self.execution_context.schema._schema.query_type.fields[refused.name]  # type: ignore[union-attr]
        nullable = not isinstance(field.type, GraphQLNonNull)
        return ExecutionResult(data=data if nullable else None, errors=[error])  # type: ignore[arg-type]

    async def _compiled(self, context: RequestContext) -> Answered | None:
        execution = self.execution_context
        if context.database.dialect != "postgresql":
            return None
        try:
            scope = await caller_scope(context)
        except Exception:  # no token, or the database failed: the resolvers meet the same and word it as always
            return None
        request = Operation(
            execution.schema._schema,
            execution.graphql_document,  # type: ignore[arg-type]
            execution.operation_name,
            execution.variables,
        )
        return await self.reads.data_text(context.database, request, scope)
