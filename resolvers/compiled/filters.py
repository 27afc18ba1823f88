"""Connection filters in SQL: the interpreter's own conditions (resolvers/filters.py) on the connection's alias, each
value given a bind parameter filled per request.

Which fields are given (and a flag's value: `hasDigitalPartnerOfRecord` picks EXISTS or NOT EXISTS) shape the SQL,
so they are plan inputs: literals are in the document text, and bindings.plan_inputs records the shape of a
variable holding the whole filter. A value the interpreter would refuse (an id of another type) fails its binding,
and the request runs on the interpreter.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FieldNode,
    IntValueNode,
    NullValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    print_ast,
)
from sqlalchemy import ColumnElement, TableClause
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.types import String, TypeEngine, Uuid

from db.audit import AuditEvent
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant
from resolvers.compiled.bindings import Source, argument, driver_value, instant, row_id
from resolvers.compiled.errors import NotCompilable
from resolvers.filters import like_pattern, partner_conditions_for, subscription_conditions, tenant_conditions_for
from resolvers.reads.audit_events import audit_event_conditions

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder


class Compared(enum.Enum):
    """How a filter field's value becomes the value its condition compares."""

    AS_IS = "AS_IS"  # text, and enum members (sent by name)
    PATTERN = "PATTERN"  # a search text: its LIKE pattern (resolvers.filters.like_pattern)
    FLAG = "FLAG"  # a boolean that picks the condition: part of the plan, no parameter
    TEXT = "TEXT"  # text as is, where an empty text filters nothing (an audit event's action)
    INSTANT = "INSTANT"  # a DateTime, read as the scalar reads it
    TENANT_ID = "TENANT_ID"  # a global id, decoded as the interpreter decodes it
    PARTNER_ID = "PARTNER_ID"
    SUBSCRIPTION_ID = "SUBSCRIPTION_ID"


@dataclass(frozen=True)
class FilterField:
    name: str  # the input field's GraphQL name
    key: str  # the interpreter's name for it
    compared: Compared
    type_: TypeEngine[Any] | None = None  # the bind parameter's type (a FLAG has none)


@dataclass(frozen=True)
class FilterSpec:
    """A connection's `filter` argument: its fields, and the interpreter's conditions for their values (keyed by
    FilterField.key; a field not given is absent), written on `table`."""

    input_type: str  # the GraphQL input object
    table: TableClause
    fields: tuple[FilterField, ...]
    conditions: Callable[[Mapping[str, Any]], list[ColumnElement[bool]]]


def _tenant_conditions(given: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    return tenant_conditions_for(given.get("search"), given.get("country_code"), given.get("status"))


_SUBSCRIPTION = Subscription.__table__.c
_SUBSCRIPTION_FIELDS = (
    FilterField("offer", "offer", Compared.AS_IS, _SUBSCRIPTION.offer.type),
    FilterField("status", "status", Compared.AS_IS, _SUBSCRIPTION.status.type),
    FilterField("hasDigitalPartnerOfRecord", "has_digital_partner_of_record", Compared.FLAG),
)
# Tenant.subscriptions(filter: TenantSubscriptionsFilter) and Query.subscriptions(filter: SubscriptionsFilter).
TENANT_SUBSCRIPTIONS = FilterSpec(
    "TenantSubscriptionsFilter",
    Subscription.__table__,  # type: ignore[arg-type]
    _SUBSCRIPTION_FIELDS,
    subscription_conditions,
)
SUBSCRIPTIONS = FilterSpec(
    "SubscriptionsFilter",
    Subscription.__table__,  # type: ignore[arg-type]
    (
        FilterField("tenantId", "tenant_id", Compared.TENANT_ID, Uuid()),
        *_SUBSCRIPTION_FIELDS,
        FilterField("partnerId", "partner_id", Compared.PARTNER_ID, Uuid()),
    ),
    subscription_conditions,
)
TENANTS = FilterSpec(
    "TenantsFilter",
    Tenant.__table__,  # type: ignore[arg-type]
    (
        FilterField("search", "search", Compared.PATTERN, String()),
        FilterField("countryCode", "country_code", Compared.AS_IS, String()),
        FilterField("status", "status", Compared.AS_IS, Tenant.__table__.c.status.type),
    ),
    _tenant_conditions,
)

_AUDIT_EVENT = AuditEvent.__table__.c
# Query.auditEvents(filter: AuditEventsFilter).
AUDIT_EVENTS = FilterSpec(
    "AuditEventsFilter",
    AuditEvent.__table__,  # type: ignore[arg-type]
    (
        FilterField("tenantId", "tenant_id", Compared.TENANT_ID, Uuid()),
        FilterField("subscriptionId", "subscription_id", Compared.SUBSCRIPTION_ID, Uuid()),
        FilterField("action", "action", Compared.TEXT, _AUDIT_EVENT.action.type),
        FilterField("correlationId", "correlation_id", Compared.TEXT, _AUDIT_EVENT.correlation_id.type),
        FilterField("from", "from_", Compared.INSTANT, _AUDIT_EVENT.occurred_at.type),
        FilterField("to", "to", Compared.INSTANT, _AUDIT_EVENT.occurred_at.type),
    ),
    audit_event_conditions,
)


@dataclass(frozen=True)
class SearchSpec:
    """A connection's `search` argument (a String, not a filter object): the interpreter's conditions for the
    search's LIKE pattern and its exact text (`partners(search:)`: a part of the name or an exact MPN id)."""

    table: TableClause
    conditions: Callable[[Any, Any], list[ColumnElement[bool]]]


PARTNER_SEARCH = SearchSpec(Partner.__table__, partner_conditions_for)  # type: ignore[arg-type]


def searched(builder: Builder, spec: SearchSpec, nodes: Sequence[FieldNode]) -> Callable[[Any], list[Any]]:
    """The search's conditions on any alias of the spec's table. Whether a search is given (and is not empty,
    which filters nothing) is a plan input; its text is bound twice, as the pattern and as it is."""
    given = {argument(node, "search") for node in nodes}
    if len(given) != 1:
        raise NotCompilable("a connection merged with differing searches")
    (source,) = given
    if not source.value(builder.variables):
        return lambda _alias: []

    def text(value: object) -> str:
        if not isinstance(value, str) or not value:
            raise NotCompilable("a search text")
        return value

    pattern = builder.bind(source, lambda value: like_pattern(text(value)), String())
    exact = builder.bind(source, text, String())
    return _on_alias([builder.constants_bound(condition) for condition in spec.conditions(pattern, exact)])


def _on_alias(written: list[Any]) -> Callable[[Any], list[Any]]:
    def on(alias: Any) -> list[Any]:
        adapter = ClauseAdapter(alias)
        return [adapter.traverse(condition) for condition in written]

    return on


@dataclass(frozen=True, slots=True)
class InputField:
    """One field of an input object argument: of the literal object (its fields' sources), or of the variable or
    null given for the whole object."""

    whole: Source
    literal: tuple[tuple[str, Source], ...] | None
    name: str

    def value(self, variables: Mapping[str, Any]) -> object:
        if self.literal is not None:
            source = dict(self.literal).get(self.name)
            return source.value(variables) if source is not None else None
        given = self.whole.value(variables)
        return given.get(self.name) if isinstance(given, Mapping) else None


def conditions(builder: Builder, spec: FilterSpec, nodes: Sequence[FieldNode]) -> Callable[[Any], list[Any]]:
    """The filter's conditions on any alias of the spec's table (a connection's page and its count)."""
    value = filter_value(nodes)
    whole, literal = sources(value)
    given: dict[str, Any] = {}
    for field in spec.fields:
        source = InputField(whole, literal, field.name)
        current = source.value(builder.variables)
        if current is None or (field.compared in (Compared.PATTERN, Compared.TEXT) and not current):
            continue  # not filtered (an empty search, action or correlation id filters nothing)
        if field.compared is Compared.FLAG:
            given[field.key] = current
        else:
            given[field.key] = builder.bind(source, _converter(builder, field), field.type_)
    return _on_alias([builder.constants_bound(condition) for condition in spec.conditions(given)])


def filter_value(nodes: Sequence[FieldNode]) -> ValueNode | None:
    """The `filter` argument of merged field nodes: one value, or none."""
    values = {
        print_ast(given.value): given.value
        for node in nodes
        for given in node.arguments or ()
        if given.name.value == "filter"
    }
    present = sum(1 for node in nodes if any(given.name.value == "filter" for given in node.arguments or ()))
    if len(values) > 1 or (values and present != len(nodes)):
        raise NotCompilable("a connection merged with differing filters")
    return next(iter(values.values()), None)


def sources(value: ValueNode | None) -> tuple[Source, tuple[tuple[str, Source], ...] | None]:
    if value is None or isinstance(value, NullValueNode):
        return Source(None, None), None
    if isinstance(value, VariableNode):
        return Source(None, value.name.value), None
    if isinstance(value, ObjectValueNode):
        return Source(None, None), tuple((field.name.value, _literal(field.value)) for field in value.fields)
    raise NotCompilable("a filter")


def _literal(value: ValueNode) -> Source:
    if isinstance(value, VariableNode):
        return Source(None, value.name.value)
    if isinstance(value, NullValueNode):
        return Source(None, None)
    if isinstance(value, StringValueNode | EnumValueNode):
        return Source(value.value, None)
    if isinstance(value, BooleanValueNode):
        return Source(value.value, None)
    if isinstance(value, IntValueNode):
        return Source(int(value.value), None)
    raise NotCompilable("a filter value")


def _converter(builder: Builder, field: FilterField) -> Callable[[object], object]:
    if field.compared is Compared.TENANT_ID:
        return row_id(builder.decode_id, "Tenant")
    if field.compared is Compared.PARTNER_ID:
        return row_id(builder.decode_id, "Partner")
    if field.compared is Compared.SUBSCRIPTION_ID:
        return row_id(builder.decode_id, "Subscription")
    enum_class = getattr(field.type_, "enum_class", None)

    def convert(value: object) -> object:
        if value is None:
            raise NotCompilable("a filter field given, then not")  # the plan filters by it
        if field.compared is Compared.PATTERN:
            if not isinstance(value, str) or not value:
                raise NotCompilable("a search text")
            return like_pattern(value)
        if field.compared is Compared.TEXT and (not isinstance(value, str) or not value):
            raise NotCompilable("a filter text given, then empty")  # the plan filters by it
        if field.compared is Compared.INSTANT:
            return instant(value)
        if enum_class is not None and isinstance(value, str):
            value = enum_class[value]  # a literal: its name
        return driver_value(field.type_, value)

    return convert
