"""A usage field's arguments as the compiled path reads them: its window, groups and association type, and the
plan inputs they make (what of their values the statement's shape depends on).

The usage statements a window needs (resolvers/usage/plan.py) differ with the window's month span: how many edge
ranges are read daily, how many days outside it are subtracted, whether days lie before or after the months read
monthly, none at all when the window holds no usage day. A plan is only reusable for a request whose windows have
the same shape, so `usage_inputs` adds every usage field's window shape to the plan key (bindings.plan_inputs
covers the other variables). A window the interpreter refuses (check_window) has a shape of its own, "refused":
its plan is the interpreter's.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from graphql import (
    DocumentNode,
    EnumValueNode,
    ExecutableDefinitionNode,
    FieldNode,
    ListValueNode,
    NullValueNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)

from db.enums import AssociationType
from resolvers.compiled.bindings import DecodeId, Source, argument, row_id
from resolvers.compiled.errors import NotCompilable
from resolvers.compiled.filters import InputField, filter_value, sources
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.month_span import month_span
from resolvers.usage.validation import UsageInputError
from resolvers.usage.window import check_window, within_usage_days

_PARENT = uuid.UUID(int=0)
# The fields holding a window (Subscription.usage, Tenant.usage, Partner.attributedUsage; usageAggregates in its
# filter).
WINDOW_FIELDS = frozenset({"usage", "attributedUsage", "usageAggregates"})


@dataclass(frozen=True, slots=True)
class Window:
    """The arguments a usage field's bind values come from: `value` is the field's filter for one request, its
    parent's own (by_parent.py's set of one) with a stand-in id: the SQL takes the parent row's."""

    parent: GroupBy  # SUBSCRIPTION, TENANT or PARTNER
    date_from: Source
    date_to: Source
    association_type: Source

    def value(self, variables: Mapping[str, Any]) -> AggregateFilter:
        kind = self.association_type.value(variables)
        first, last = _date(self.date_from.value(variables)), _date(self.date_to.value(variables))
        association_type = None if kind is None else _association_type(kind)
        if self.parent is GroupBy.SUBSCRIPTION:
            return AggregateFilter(first, last, subscription_id=_PARENT, association_type=association_type)
        if self.parent is GroupBy.TENANT:
            return AggregateFilter(first, last, tenant_id=_PARENT, association_type=association_type)
        return AggregateFilter(first, last, partner_id=_PARENT, association_type=association_type)


@dataclass(frozen=True, slots=True)
class RootWindow:
    """`usageAggregates(filter:)`: the filter's fields, read as schema/usage.to_filter reads them (ids decoded to
    the type each names, or not compilable: the interpreter's BAD_USER_INPUT)."""

    fields: tuple[tuple[str, InputField], ...]
    decode_id: DecodeId

    def given(self, name: str, variables: Mapping[str, Any]) -> object:
        return dict(self.fields)[name].value(variables)

    def value(self, variables: Mapping[str, Any]) -> AggregateFilter:
        def ident(name: str, type_name: str) -> uuid.UUID | None:
            found = self.given(name, variables)
            return None if found is None else row_id(self.decode_id, type_name)(found)  # type: ignore[return-value]

        kind, service = self.given("associationType", variables), self.given("service", variables)
        if service is not None and not isinstance(service, str):
            raise NotCompilable("a service that is not a string")
        return AggregateFilter(
            _date(self.given("from", variables)),
            _date(self.given("to", variables)),
            tenant_id=ident("tenantId", "Tenant"),
            subscription_id=ident("subscriptionId", "Subscription"),
            partner_id=ident("partnerId", "Partner"),
            association_type=None if kind is None else _association_type(kind),
            service=service,
        )


ROOT_FILTER_FIELDS = ("from", "to", "tenantId", "subscriptionId", "partnerId", "associationType", "service")


def root_window(nodes: list[FieldNode], decode_id: DecodeId) -> RootWindow:
    """The `filter` of merged `usageAggregates` nodes (one value, or not compilable)."""
    whole, literal = sources(filter_value(nodes))
    known = {name for name, _ in literal or ()}
    if not known <= set(ROOT_FILTER_FIELDS):
        raise NotCompilable(f"usageAggregates filter fields {sorted(known - set(ROOT_FILTER_FIELDS))}")
    return RootWindow(tuple((name, InputField(whole, literal, name)) for name in ROOT_FILTER_FIELDS), decode_id)


def window(parent: GroupBy, nodes: list[FieldNode]) -> Window:
    """The window of merged field nodes (the same arguments on each, or not compilable)."""
    windows = {
        Window(parent, argument(node, "from"), argument(node, "to"), _enum_argument(node, "associationType"))
        for node in nodes
    }
    if len(windows) != 1:
        raise NotCompilable("a usage field merged with differing windows")
    return windows.pop()


# The groupings the compiled usage statements know (resolvers/compiled/usage_rows.py KEY_LABELS): any other would
# leave the request to the interpreter.
COMPILED_GROUPS = frozenset(GroupBy)


def groups(nodes: list[FieldNode], variables: Mapping[str, Any]) -> frozenset[GroupBy]:
    found = {_groups(_value_node(node, "groupBy"), variables) for node in nodes}
    if len(found) != 1:
        raise NotCompilable("a usage field merged with differing groupings")
    grouped = found.pop()
    if not grouped <= COMPILED_GROUPS:
        raise NotCompilable(f"groupBy {', '.join(sorted(group.value for group in grouped - COMPILED_GROUPS))}")
    return grouped


@functools.lru_cache(maxsize=4096)
def window_shape(first: date, last: date, grouped: frozenset[GroupBy]) -> Hashable:
    """What of a window the usage statements depend on, as resolvers.usage.plan reads it."""
    try:
        check_window(AggregateFilter(first, last), grouped)
    except UsageInputError:
        return "refused"
    clamped = within_usage_days(AggregateFilter(first, last))
    if clamped is None:
        return "empty"
    span = None if GroupBy.DAY in grouped else month_span(clamped.date_from, clamped.date_to)
    if span is None:
        return grouped
    inside_first, inside_last = span.inside
    before, after = clamped.date_from < inside_first, inside_last < clamped.date_to
    return grouped, len(span.edges), len(span.outside), before, after


def usage_inputs(document: DocumentNode, variables: Mapping[str, Any]) -> tuple[Hashable, ...]:
    """The window shape of every usage field of the document, in document order (fields never reached, skipped
    or on another type, only make the key finer)."""
    shapes: list[Hashable] = []
    for node in _window_fields(document):
        try:
            if node.name.value == "usageAggregates":
                whole, literal = sources(filter_value([node]))
                first = _date(InputField(whole, literal, "from").value(variables))
                last = _date(InputField(whole, literal, "to").value(variables))
            else:
                first = _date(argument(node, "from").value(variables))
                last = _date(argument(node, "to").value(variables))
            shapes.append(window_shape(first, last, _groups(_value_node(node, "groupBy"), variables)))
        except NotCompilable:
            shapes.append("unknown")
    return tuple(shapes)


def _window_fields(document: DocumentNode) -> tuple[FieldNode, ...]:
    """The document's window fields, walked once per document text (a walk per request cost more than the rest of
    a cached plan's look-up)."""
    body = document.loc.source.body if document.loc is not None else None
    found = _WINDOW_FIELDS.get(body) if body is not None else None
    if found is None:
        found = tuple(_fields(document))
        if body is not None:
            if len(_WINDOW_FIELDS) >= _KEPT:
                _WINDOW_FIELDS.clear()
            _WINDOW_FIELDS[body] = found
    return found


_KEPT = 1024
_WINDOW_FIELDS: dict[str, tuple[FieldNode, ...]] = {}


def _fields(document: DocumentNode) -> Iterator[FieldNode]:
    def walk(selection_set: SelectionSetNode | None) -> Iterator[FieldNode]:
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode) and selection.name.value in WINDOW_FIELDS:
                yield selection
            yield from walk(getattr(selection, "selection_set", None))

    for definition in document.definitions:
        if isinstance(definition, ExecutableDefinitionNode):
            yield from walk(definition.selection_set)


def _value_node(node: FieldNode, name: str) -> ValueNode | None:
    return next((given.value for given in node.arguments or () if given.name.value == name), None)


def _enum_argument(node: FieldNode, name: str) -> Source:
    value = _value_node(node, name)
    if isinstance(value, EnumValueNode):
        return Source(value.value, None)
    if value is None or isinstance(value, NullValueNode | VariableNode):
        return argument(node, name)
    raise NotCompilable(f"argument {name}")


def _groups(value: ValueNode | None, variables: Mapping[str, Any]) -> frozenset[GroupBy]:
    given: Any
    if isinstance(value, VariableNode):
        given = variables.get(value.name.value)
    elif isinstance(value, ListValueNode):
        given = [item.value if isinstance(item, EnumValueNode) else None for item in value.values]
    elif isinstance(value, EnumValueNode):  # a single value given for a list
        given = [value.value]
    else:
        raise NotCompilable("groupBy")
    if not isinstance(given, list):
        given = [given]
    try:
        return frozenset(GroupBy[item.name if isinstance(item, GroupBy) else item] for item in given)
    except (KeyError, TypeError) as error:
        raise NotCompilable("groupBy") from error


def _date(value: object) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):  # a literal: validation parsed it already, as the Date scalar does
        try:
            return date.fromisoformat(value)
        except ValueError as error:
            raise NotCompilable("a date") from error
    raise NotCompilable("a date")


def _association_type(value: object) -> AssociationType:
    name = value.name if isinstance(value, AssociationType) else value
    if not isinstance(name, str) or name not in AssociationType.__members__:
        raise NotCompilable("associationType")
    return AssociationType[name]
