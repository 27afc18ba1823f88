"""Serving a query from its compiled plan: look the plan up (or build it), bind the caller's ids and the request's
root ids, run the one statement, and hand back the `data` JSON text PostgreSQL built.

`None` means "use the interpreter": the document or its variables are outside what the compiler knows, the caller
has no scope to compile for, the statement failed, or the answer holds `MISSING` (an error only the interpreter
words). Falling back is always correct; it only costs time. Each fall-back logs its reason at DEBUG on
`dpor.compiled` ("not compiled: <the planner's NotCompilable>", "fell back: ..."), a cached refusal too: the
differential test tabulates them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, FragmentDefinitionNode, GraphQLSchema, OperationType, get_operation_ast
from graphql.execution.values import get_variable_values

from auth.row_filters import Known, parameters
from auth.scope import CallerScope
from db.engine import Database
from resolvers.compiled import viewer
from resolvers.compiled.bindings import DecodeId, plan_inputs
from resolvers.compiled.errors import NotCompilable
from resolvers.compiled.planner import CallerShape, Plan, Refused, plan
from resolvers.compiled.sql_text import MISSING
from resolvers.compiled.usage_arguments import usage_inputs

logger = logging.getLogger("dpor.compiled")

# A plan and the coerced variables it is run with.
Planned = tuple[Plan, Mapping[str, Any]]
PlanKey = tuple[str, str | None, CallerShape, tuple[tuple[str, object], ...], tuple[Hashable, ...]]


class _Plans:
    """Plans (or, as text, why there is none) by key, least recently used first out."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._plans: OrderedDict[PlanKey, Plan | str] = OrderedDict()

    def get(self, key: PlanKey) -> Plan | str | None:
        found = self._plans.get(key)
        if found is not None:
            self._plans.move_to_end(key)
        return found

    def put(self, key: PlanKey, found: Plan | str) -> None:
        self._plans[key] = found
        if len(self._plans) > self.maxsize:
            self._plans.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Answered:
    """A compiled answer: `data` as JSON text, and the root field it holds null for because the caller's roles are
    not granted it (the interpreter's FORBIDDEN on that field, which the extension words)."""

    text: str
    refused: Refused | None


@dataclass(frozen=True, slots=True)
class Operation:
    """What the compiled path needs of a validated request."""

    schema: GraphQLSchema
    document: DocumentNode
    operation_name: str | None
    variables: Mapping[str, Any] | None


class CompiledReads:
    """One per process (per schema): its plan cache is shared by every request."""

    def __init__(
        self, decode_id: DecodeId, *, max_page_size: int, max_usage_rows: int | None = None, maxsize: int = 1024
    ) -> None:
        """`max_usage_rows`: the bound in force (DPOR_MAX_USAGE_ROWS); without it no usage field compiles, since
        the compiled answer could not refuse what the interpreter refuses (TOO_MANY_USAGE_ROWS)."""
        self._decode_id = decode_id
        self._max_page_size = max_page_size
        self._max_usage_rows = max_usage_rows
        self._plans = _Plans(maxsize)

    def plan_for(self, request: Operation, scope: CallerScope) -> Planned | None:
        """The plan and the coerced variables, or None when this request needs the interpreter."""
        operation = get_operation_ast(request.document, request.operation_name)
        if operation is None or operation.operation is not OperationType.QUERY or request.document.loc is None:
            logger.debug("not compiled: not a query")
            return None
        coerced = get_variable_values(
            request.schema, operation.variable_definitions or (), dict(request.variables or {})
        )
        if isinstance(coerced, list):  # the interpreter words variable errors
            logger.debug("not compiled: variables the interpreter refuses")
            return None
        variables = coerced.coerced
        caller = CallerShape(scope.roles, Known(scope.tenant_id is not None, scope.partner_id is not None))
        key = (
            request.document.loc.source.body,
            request.operation_name,
            caller,
            plan_inputs(variables, self._decode_id),
            usage_inputs(request.document, variables),
        )
        found = self._plans.get(key)
        if found is None:
            fragments = {
                definition.name.value: definition
                for definition in request.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            try:
                found = plan(
                    operation,
                    fragments,
                    variables,
                    caller,
                    self._decode_id,
                    self._max_page_size,
                    self._max_usage_rows,
                )
            except NotCompilable as why:
                found = str(why)
            except Exception:  # a planner bug must not fail a request the interpreter can answer: say it loudly
                logger.exception("compiling a query failed; it runs on the interpreter")
                found = "the planner failed"
            self._plans.put(key, found)
        if isinstance(found, str):
            logger.debug("not compiled: %s", found)
            return None
        return found, variables

    async def data_text(self, database: Database, request: Operation, scope: CallerScope) -> Answered | None:
        """The response's `data` as JSON text (and the root the caller is refused, if any), or None to let the
        interpreter answer."""
        if database.dialect != "postgresql":
            return None
        planned = self.plan_for(request, scope)
        if planned is None:
            return None
        text = await self.answer(database, planned, scope)
        return None if text is None else Answered(text, planned[0].refused)

    async def answer(self, database: Database, planned: Planned, scope: CallerScope) -> str | None:
        """Run a plan (from `plan_for`) for the caller: its `data` JSON text, or None for the interpreter."""
        found, variables = planned
        values: dict[str, Any] = dict(parameters(scope))
        if found.of_viewer:
            values.update(viewer.values(scope))
        try:
            for binding in found.bindings:
                values[binding.parameter] = binding.value(variables)
        except NotCompilable as why:  # cannot happen for a request of this plan's key; the interpreter is right
            logger.debug("fell back: a binding refused its value (%s)", why)
            return None
        try:
            text: str = await database.fetch_value_on_driver(found.sql, found.arguments(values))
        except Exception as error:  # a database failure (or any other): the interpreter meets it and words it
            logger.debug("fell back: the statement failed (%s)", type(error).__name__)
            return None
        if MISSING in text:
            logger.debug("fell back: the answer holds MISSING")
            return None
        return text
