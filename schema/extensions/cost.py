"""Static cost of an operation, checked before execution; pagination is mandatory on every connection.

The estimate follows GitHub's node count: a connection asked for `first: n` may return n nodes, and everything
selected inside its edges happens n times, so nested connections multiply:

    tenants(first: 10) { edges { node { subscriptions(first: 20) { ... } } } }   ->  10 + 10 * 20 = 210 nodes

A list field bounded by a list argument (`nodes(ids: [...])`) counts that list's length; other object lists
count one (the schema paginates anything that can be large), except usage aggregates (below). The requested cost
is 1 (the operation itself) plus the node count. It is an upper bound: `@skip`/`@include` are not evaluated, and
fields under type conditions of different types all count.

Usage aggregates count the rows they can return (schema/extensions/usage_rows.py).

A connection is recognised by shape, not by name: a field with a `first` argument whose type is an object with
an `edges` field. An omitted `first` costs the resolvers' default page (20, as the SDL documents); a given one
must be between 1 and `max_page_size`, else BAD_USER_INPUT with `field: "first"` (the resolvers' shape for a
bad argument); a cost over `max_cost` is COST_LIMIT_EXCEEDED.
Both are raised in `on_execute` before execution starts, so no resolver and no SQL runs. The estimate is made
with the coerced variables, hence after validation rather than as a validation rule.

The walk merges fields by response key and visits each fragment once per selection set (as execution does), so
a document that repeats fragments cannot make the walk itself exponential.

The per-operation report (`current_report()`) feeds `extensions.cost` in the response and the `rateLimit`
field; "actual" equals "requested" (the estimate is not re-measured against the result).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from resolvers.codes import Code
from resolvers.pagination import DEFAULT_PAGE_SIZE
from schema.extensions.errors import coded_error, limit_error
from schema.extensions.usage_rows import UsageBounds, is_list, is_usage_aggregate, usage_rows


@dataclass
class CostReport:
    requested: int
    maximum: int
    # Filled in by the rate limiter (rate_limit.py) when it runs.
    limit: int | None = None
    remaining: int | None = None
    reset_after_seconds: float | None = None
    retry_after_seconds: float | None = None
    throttled: bool = False

    def as_extension(self) -> dict[str, Any]:
        throttle: dict[str, Any] = {"status": "THROTTLED" if self.throttled else "OK"}
        if self.limit is not None:
            throttle.update(limit=self.limit, remaining=self.remaining)
        if self.retry_after_seconds is not None:
            throttle["retryAfter"] = self.retry_after_seconds
        return {
            "requested": self.requested,
            "actual": self.requested,
            "maximum": self.maximum,
            "throttle": throttle,
        }


# Per operation: a batch runs each operation in its own task, so each sees its own report.
_report: ContextVar[CostReport | None] = ContextVar("dpor_cost_report", default=None)


def current_report() -> CostReport | None:
    return _report.get()


def start_report(requested: int, maximum: int) -> CostReport:
    """The current operation's report, from its estimate (what the response's `extensions.cost` shows)."""
    report = CostReport(requested=requested, maximum=maximum)
    _report.set(report)
    return report


FieldKey = tuple[str, str]  # (response key, name of the type the field is selected on)


def _collect(
    selection_sets: list[SelectionSetNode],
    parent: str,
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
) -> dict[FieldKey, list[FieldNode]]:
    fields: dict[FieldKey, list[FieldNode]] = {}
    visited: set[str] = set()

    def visit(selection_set: SelectionSetNode, on_type: str) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                fields.setdefault((key, on_type), []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else on_type
                visit(selection.selection_set, condition)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited or name not in fragments:
                    continue
                visited.add(name)
                visit(fragments[name].selection_set, fragments[name].type_condition.name.value)

    for selection_set in selection_sets:
        visit(selection_set, parent)
    return fields


def is_connection(field: GraphQLField) -> bool:
    named = get_named_type(field.type)
    return "first" in field.args and isinstance(named, GraphQLObjectType) and "edges" in named.fields


class CostEstimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        max_page_size: int,
        usage: UsageBounds | None = None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.max_page_size = max_page_size
        self.usage = usage or UsageBounds()
        self.nodes = 0
        self.usage_rows = 0  # the usage rows the whole operation can return
        self.read: set[str] = set()  # the variables the estimate depends on (see CostMemo)

    def walk(self, selection_sets: list[SelectionSetNode], parent: str, multiplier: int, page: int | None) -> None:
        for (_key, on_type), nodes in _collect(selection_sets, parent, self.schema, self.fragments).items():
            node = nodes[0]
            name = node.name.value
            owner = self.schema.get_type(on_type)
            if name.startswith("__") or not isinstance(owner, GraphQLObjectType | GraphQLInterfaceType):
                continue
            field = owner.fields.get(name)
            children = [each.selection_set for each in nodes if each.selection_set is not None]
            if field is None or not children:
                continue  # a leaf costs nothing beyond its parent
            child_type = get_named_type(field.type).name
            if is_connection(field):
                first = self._page_size(field, node)
                self.nodes += multiplier * first
                self.walk(children, child_type, multiplier, first)
            elif is_usage_aggregate(field):
                rows = usage_rows(self._arguments(field, node), on_type, self.usage.group_size)
                self._count_usage_rows(multiplier * rows, node)
                self.nodes += multiplier * rows
                self.walk(children, child_type, multiplier * rows, None)
            elif is_list(field):
                size = page if page is not None else self._list_argument_size(field, node)
                if page is None and size > 1:
                    self.nodes += multiplier * size
                self.walk(children, child_type, multiplier * size, None)
            else:
                self.walk(children, child_type, multiplier, None)

    def _arguments(self, field: GraphQLField, node: FieldNode) -> dict[str, Any]:
        for argument in node.arguments or ():
            self.read.update(_variables_in(argument.value))
        try:
            return get_argument_values(field, node, self.variables)
        except GraphQLError as error:
            raise coded_error(error.message, Code.BAD_USER_INPUT) from error

    def _page_size(self, field: GraphQLField, node: FieldNode) -> int:
        first = self._arguments(field, node).get("first")
        if first is None:
            # Omitted: the resolvers serve their default page (the SDL says "default 20"), so that is its cost.
            return min(DEFAULT_PAGE_SIZE, self.max_page_size)
        if not isinstance(first, int) or not 1 <= first <= self.max_page_size:
            given = f"{first}"
            # The project's shape for bad arguments (resolvers/pagination.py): BAD_USER_INPUT naming the field.
            error = limit_error(
                f"`{node.name.value}` needs `first` between 1 and {self.max_page_size} (got {given}).",
                Code.BAD_USER_INPUT,
                "maxPageSize",
                self.max_page_size,
                first if isinstance(first, int) else None,
            )
            extensions = {**(error.extensions or {}), "field": "first", "maximum": self.max_page_size}
            raise GraphQLError(error.message, nodes=[node], extensions=extensions)
        return first

    def _count_usage_rows(self, rows: int, node: FieldNode) -> None:
        self.usage_rows += rows
        if self.usage_rows > self.usage.max_rows:
            error = limit_error(
                f"The operation may return {self.usage_rows} usage rows, over the maximum of {self.usage.max_rows}:"
                " narrow the window, pin a subscription, tenant, partner or service, or group by fewer keys.",
                Code.TOO_MANY_USAGE_ROWS,
                "maxUsageRows",
                self.usage.max_rows,
                self.usage_rows,
            )
            raise GraphQLError(error.message, nodes=[node], extensions=error.extensions)

    def _list_argument_size(self, field: GraphQLField, node: FieldNode) -> int:
        sizes = [len(value) for value in self._arguments(field, node).values() if isinstance(value, list)]
        return max(sizes, default=1)


def _variables_in(value: ValueNode) -> Iterator[str]:
    if isinstance(value, VariableNode):
        yield value.name.value
    elif isinstance(value, ListValueNode):
        for item in value.values:
            yield from _variables_in(item)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from _variables_in(field.value)


def estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    max_page_size: int,
    usage: UsageBounds | None = None,
) -> int | None:
    """The requested cost, or None if the operation or its variables are invalid (execution reports that)."""
    estimator = _estimated(schema, document, operation_name, variables, max_page_size, usage)
    return None if estimator is None else 1 + estimator.nodes


def _estimated(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    max_page_size: int,
    usage: UsageBounds | None,
) -> CostEstimator | None:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if not isinstance(coerced, VariableValues):
        return None
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    estimator = CostEstimator(schema, fragments, coerced, max_page_size, usage)
    estimator.walk([operation.selection_set], root.name, 1, None)
    return estimator


# How many variable values one document's memo keeps: a client pages with a few `first` values and windows; the
# bound keeps a caller sending endless distinct values from growing it.
MAX_MEMO_ENTRIES = 64

_ABSENT = b"absent"  # a variable not given (its default applies), unlike one given as null


class CostMemo:
    """`estimate` for one document and operation, remembered by the values of the variables it reads.

    The walk reads only the arguments of connections, lists and usage fields (`first`, `ids`, a usage window), so a
    document's estimate is the same for every value of its other variables (a node's `id`): the fast lane answers
    the repeats of a vetted document without walking it again. The value of a read variable is keyed as the
    request sent it (JSON, which its coercion is a function of). Only successful estimates are kept; an invalid
    variable elsewhere in the request is still refused by the compiled plan's own coercion."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> None:
        self.schema, self.document, self.operation_name = schema, document, operation_name
        self._read: tuple[str, ...] | None = None  # known after the first successful estimate
        self._costs: OrderedDict[tuple[bytes, ...], int] = OrderedDict()

    def estimate(self, variables: dict[str, Any] | None, max_page_size: int, usage: UsageBounds | None) -> int | None:
        given = variables or {}
        key = None if self._read is None else self._key(given, self._read)
        if key is not None and (cost := self._costs.get(key)) is not None:
            self._costs.move_to_end(key)
            return cost
        estimator = _estimated(self.schema, self.document, self.operation_name, variables, max_page_size, usage)
        if estimator is None:
            return None
        cost = 1 + estimator.nodes
        if self._read is None:
            self._read = tuple(sorted(estimator.read))
        key = self._key(given, self._read)
        if key is not None:
            self._costs[key] = cost
            if len(self._costs) > MAX_MEMO_ENTRIES:
                self._costs.popitem(last=False)
        return cost

    @staticmethod
    def _key(variables: dict[str, Any], names: tuple[str, ...]) -> tuple[bytes, ...] | None:
        try:
            return tuple(
                orjson.dumps(variables[name], option=orjson.OPT_SORT_KEYS) if name in variables else _ABSENT
                for name in names
            )
        except orjson.JSONEncodeError:  # not JSON (a caller other than an HTTP request): not remembered
            return None


class CostLimit(SchemaExtension):
    def __init__(self, *, max_cost: int, max_page_size: int, usage: UsageBounds | None = None) -> None:
        self.max_cost = max_cost
        self.max_page_size = max_page_size
        self.usage = usage or UsageBounds()
        self.report: CostReport | None = None

    def on_operation(self) -> Iterator[None]:
        # A new operation in the same task (tests, scripts) must not see the previous operation's report.
        _report.set(None)
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        requested = estimate(
            context.schema._schema,
            context.graphql_document,
            context.operation_name,
            context.variables,
            self.max_page_size,
            self.usage,
        )
        if requested is not None:
            self.report = start_report(requested, self.max_cost)
            if requested > self.max_cost:
                raise limit_error(
                    f"The operation's estimated cost {requested} exceeds the maximum of {self.max_cost}.",
                    Code.COST_LIMIT_EXCEEDED,
                    "maxCost",
                    self.max_cost,
                    requested,
                )
        yield

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.report.as_extension()} if self.report is not None else {}
