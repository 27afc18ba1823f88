"""The fast lane: a repeat of a query that the full pipeline already answered from its compiled statement is
answered again without Strawberry's per-operation machinery, through the same checks.

Why: once a read compiles to one statement, Strawberry's machinery around it (an execution context, fourteen
extensions with four hooks each, result processing) cost more CPU than everything else in the request: read (3)
spent 1.40 ms of CPU in process, of which the compiled statement and its checks were under half
(`python -m bench.inprocess --profile`).

A document is vetted (`vet`) when the full pipeline answered it, as text, from the compiled path, without an
error. Whatever depends on the text alone then holds for every later request of the same text and operation
name: it parses, keeps within the token, depth, alias, root-field, directive and introspection limits, validates,
has no NUL in its literals, and is a query. Whatever depends on the request is checked again, by the
extensions' own functions and in their order: the trusted documents rule for the caller (persisted.TrustRules),
NUL in the variables, the cost of these variables (cost.estimate, remembered by the values it reads:
cost.CostMemo), the compiled plan for this caller shape and these variables (CompiledReads.plan_for), the rate
limit (rate_limit.charge), the deadline, and the statement.
The metrics and the access log line are the observability extension's own (observability.record).

Anything else goes to the full pipeline, which answers exactly as if the lane were not there: before the rate
limit is charged the lane has done nothing a caller could notice, and after it the handover
(resolvers.context.FastLaneHandover) tells the pipeline what the lane did, so the operation is not charged twice
and the compiled statement is not run twice. The lane is off with tracing (its spans are the extensions' steps)
and with `DPOR_FAST_LANE=false`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationType, get_operation_ast, parse

from db import statement_counter
from resolvers.caller import caller_scope
from resolvers.compiled.runner import CompiledReads, Operation
from resolvers.context import FastLaneHandover, RequestContext
from schema.extensions import Shared, nul_characters
from schema.extensions.config import ExtensionConfig
from schema.extensions.cost import CostMemo, start_report
from schema.extensions.observability import record
from schema.extensions.rate_limit import charge

# How many vetted documents are kept, least recently used first out: a client sends a handful of documents;
# the bound keeps a caller who sends endless distinct texts from growing the cache.
MAX_VETTED = 1024


@dataclass(frozen=True, slots=True)
class _Vetted:
    document: DocumentNode
    # The operation's name as the access log and metrics report it (the document's, when the request gave none).
    name: str | None
    costs: CostMemo  # cost.estimate for this document, by the variables it reads


Outcome = dict[str, Any] | FastLaneHandover | None


class FastLane:
    def __init__(self, schema: GraphQLSchema, config: ExtensionConfig, shared: Shared, reads: CompiledReads) -> None:
        self.schema = schema
        self.config = config
        self.trust = shared.trust
        self.reads = reads
        self._vetted: OrderedDict[tuple[str, str | None], _Vetted] = OrderedDict()

    def vet(self, query: str, operation_name: str | None) -> None:
        """The full pipeline answered this text from the compiled path without an error (see the module)."""
        key = (query, operation_name)
        if key in self._vetted:
            return
        document = parse(query)
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return
        name = operation.name.value if operation.name else None
        self._vetted[key] = _Vetted(document, name, CostMemo(self.schema, document, operation_name))
        if len(self._vetted) > MAX_VETTED:
            self._vetted.popitem(last=False)

    async def serve(
        self, context: RequestContext, query: str, operation_name: str | None, variables: dict[str, Any] | None
    ) -> Outcome:
        """The response body (`data` and `extensions`), a handover for the full pipeline, or None: the pipeline
        answers as if the lane had not looked."""
        vetted = self._vetted.get((query, operation_name))
        if vetted is None or context.database.dialect != "postgresql" or context.principal is None:
            return None
        self._vetted.move_to_end((query, operation_name))
        if not self.trust.admits_text(context, query) or nul_characters.in_value(variables):
            return None
        started = time.perf_counter()
        with statement_counter.counting() as count:
            outcome = await self._answer(context, vetted, operation_name, variables)
            if isinstance(outcome, dict):
                record(context, "query", vetted.name, time.perf_counter() - started, "ok", count.statements)
        return outcome

    async def _answer(
        self, context: RequestContext, vetted: _Vetted, operation_name: str | None, variables: dict[str, Any] | None
    ) -> Outcome:
        config = self.config
        try:
            requested = vetted.costs.estimate(variables, config.max_page_size, config.usage)
        except GraphQLError:  # a bad `first`, too many usage rows: the cost extension words it
            return None
        if requested is None or requested > config.max_cost:
            return None
        try:
            scope = await caller_scope(context)
        except Exception:  # as in the compiled reads extension: the resolvers meet it and word it
            return None
        planned = self.reads.plan_for(Operation(self.schema, vetted.document, operation_name, variables), scope)
        if planned is None or planned[0].refused is not None:  # an error (FORBIDDEN): the pipeline words it
            return None
        report = start_report(requested, config.max_cost)
        decision = None
        limiter = context.rate_limiter
        if config.rate_limit and limiter is not None:
            try:
                decision = await charge(limiter, context, report)
            except GraphQLError:  # the budget store failed: the pipeline asks again and refuses as it does
                return None
            if not decision.allowed:  # a refusal takes nothing from the bucket: the pipeline refuses it again
                return None
        try:
            async with asyncio.timeout(config.request_timeout_seconds):
                text = await self.reads.answer(context.database, planned, scope)
        except TimeoutError:
            return FastLaneHandover(decision, timed_out=True)
        if text is None:
            return FastLaneHandover(decision, compiled_declined=True)
        context.execution_path = "compiled"
        # PostgreSQL's JSON text goes into the body as it is (orjson writes a Fragment verbatim), as on the
        # compiled path; the cost report is the one extension whose results a response carries.
        return {"data": orjson.Fragment(text), "extensions": {"cost": report.as_extension()}}


def fast_lane_for(config: ExtensionConfig, schema: GraphQLSchema, shared: Shared) -> FastLane | None:
    if not config.fast_lane or shared.reads is None or config.otel_endpoint:
        return None
    return FastLane(schema, config, shared, shared.reads)
