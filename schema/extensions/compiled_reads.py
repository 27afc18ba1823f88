"""Serve a query from one compiled SQL statement when the compiler knows the document (resolvers/compiled/).

Placed after the cost check and the rate limit (a refused operation compiles nothing) and before the execution
deadline: a hook that raises on entry leaves the hooks entered before it unexited, so this one keeps its own time
bound and refuses with the deadline's own TIMEOUT before that deadline is armed. When it answers, Strawberry skips
execution (`execution_context.result` is set); otherwise the interpreter runs as if this hook were not there.
A request the fast lane (schema/fast_lane.py) handed over is not compiled twice: its handover says how the
compiled statement ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from graphql import ExecutionResult
from strawberry.extensions import SchemaExtension

from resolvers.caller import caller_scope
from resolvers.compiled.runner import CompiledReads, Operation
from resolvers.context import RequestContext
from schema.extensions.deadline import timeout_error


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
                    text = await self._compiled(context)
            except TimeoutError:
                raise timeout_error(self.seconds) from None
            if text is not None:
                # PostgreSQL's JSON text goes into the response body as it is: the view encodes with orjson, which
                # writes a Fragment verbatim (no parse, no re-serialisation).
                execution.result = ExecutionResult(data=orjson.Fragment(text))  # type: ignore[arg-type]
                context.execution_path = "compiled"
        yield

    async def _compiled(self, context: RequestContext) -> str | None:
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
