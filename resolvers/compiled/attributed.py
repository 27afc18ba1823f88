"""`attributedSubscriptions` in SQL, as resolvers/reads/attributed.py reads it: the subscriptions the partner is or
was associated with (through association rows the caller may see), in subscription order, each edge with the
partner's association rows on it, oldest first.

With its `filter` (type, activeAt, from, to: the interpreter's own conditions, resolvers.reads.attributed
.association_conditions, each value a binding; `from` at or after `to` is the interpreter's). Whose rows, read
from auth.policy.OPERATIONS as the interpreter reads them: the caller's own partner when `partnerId` is omitted (an
OWN_PARTNER grant, and a token whose MPN id is known); a given `partnerId` only for a caller whose grant reaches
every partner (ALL). Every other case (no such grant, an unknown MPN id's empty page, another partner's id) is an
error or a special answer the interpreter words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from graphql import FieldNode
from sqlalchemy import ColumnElement, Select, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.types import Uuid

from auth.row_filters import SCOPE_PARTNER_ID
from db.enums import AssociationType
from resolvers import global_id
from resolvers.compiled.bindings import argument, driver_value, instant, row_id
from resolvers.compiled.catalog import TYPES
from resolvers.compiled.errors import NotCompilable
from resolvers.compiled.filters import InputField, filter_value, sources
from resolvers.errors import BadUserInput
from resolvers.loaders import SUBSCRIPTION_ORDER
from resolvers.reads.attributed import (
    association_conditions,
    reaches_every_partner,
    reads_own_partner,
    require_own_partner,
)

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

ASSOCIATION = TYPES["PartnerAssociation"]
SUBSCRIPTION = TYPES["Subscription"]


def attributed_subscriptions(builder: Builder, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    allowed = {"first", "after", "partnerId", "filter"}
    return _connection(builder, nodes, _partner(builder, nodes), allowed, parent=None)


def of_partner_row(builder: Builder, parent: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    """Partner.attributedSubscriptions: the parent partner row's (schema/partner.py passes its id as the target,
    which compiled/partner_reach.py has checked is in reach)."""
    return _connection(builder, nodes, parent.c.id, {"first", "after", "filter"}, parent=parent)


def _connection(
    builder: Builder, nodes: Sequence[FieldNode], partner: ColumnElement[Any], allowed: set[str], parent: Any
) -> ColumnElement[Any]:
    filtered = _filter_conditions(builder, nodes)

    def mine(associations: Any) -> list[ColumnElement[bool]]:
        adapter = ClauseAdapter(associations)
        return [
            associations.c.partner_id == partner,
            *(adapter.traverse(condition) for condition in filtered),
            builder.visible(ASSOCIATION, associations),
        ]

    def correlated(statement: Select[Any], *froms: Any) -> Select[Any]:
        # Under a Partner row, `partner` is the row's id, a FROM of a statement levels up: said explicitly, or
        # SQLAlchemy would join the parent's page in again here (it auto-correlates one level only).
        return statement if parent is None else statement.correlate(parent, *froms)

    def where(child: Any) -> list[ColumnElement[bool]]:
        matching = builder.alias(ASSOCIATION)
        return [child.c.id.in_(correlated(select(matching.c.subscription_id).where(*mine(matching))))]

    def associations(page: Any, field_nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        if any(node.arguments for node in field_nodes):
            raise NotCompilable("arguments of associations")
        rows = builder.alias(ASSOCIATION)
        ordered = aggregate_order_by(builder.object_json(ASSOCIATION, rows, field_nodes), rows.c.valid_from, rows.c.id)
        listed = select(func.coalesce(func.json_agg(ordered), literal_column("'[]'::json")))
        return correlated(listed.where(rows.c.subscription_id == page.c.id, *mine(rows)), page).scalar_subquery()

    return builder.connections.root_with(
        SUBSCRIPTION,
        SUBSCRIPTION_ORDER,
        where,
        nodes,
        allowed=allowed,
        type_name="AttributedSubscription",
        edge_fields={"associations": associations},
        parent=parent,
    )


@dataclass(frozen=True, slots=True)
class _Window:
    """`from` and `to` read together: the interpreter refuses `from` at or after `to` (BAD_USER_INPUT)."""

    first: InputField
    last: InputField

    def value(self, variables: Mapping[str, Any]) -> object:
        return self.first.value(variables), self.last.value(variables)


def _filter_conditions(builder: Builder, nodes: Sequence[FieldNode]) -> list[ColumnElement[bool]]:
    """The filter's conditions on PartnerAssociation (reads.attributed.association_conditions), each value a
    binding; which fields are given is a plan input."""
    whole, literal = sources(filter_value(nodes))
    field = {name: InputField(whole, literal, name) for name in ("type", "activeAt", "from", "to")}
    given = {name: source.value(builder.variables) is not None for name, source in field.items()}
    type_ = ASSOCIATION.table.c.type.type

    def kind(value: object) -> object:
        if value is None:
            raise NotCompilable("a filter field given, then not")
        return driver_value(type_, AssociationType[value] if isinstance(value, str) else value)

    def moment(value: object) -> object:
        if value is None:
            raise NotCompilable("a filter field given, then not")
        return instant(value)

    def ordered(pair: object) -> object:
        first, last = (moment(value) for value in pair)  # type: ignore[attr-defined]
        if first >= last:  # type: ignore[operator]
            raise NotCompilable("a window the interpreter refuses")
        return last

    instant_type = ASSOCIATION.table.c.valid_from.type
    values = {
        "type": builder.bind(field["type"], kind, type_) if given["type"] else None,
        "active_at": builder.bind(field["activeAt"], moment, instant_type) if given["activeAt"] else None,
        "from_": builder.bind(field["from"], moment, instant_type) if given["from"] else None,
        "to": None,
    }
    if given["to"]:
        source = _Window(field["from"], field["to"]) if given["from"] else field["to"]
        values["to"] = builder.bind(source, ordered if given["from"] else moment, instant_type)
    return [builder.constants_bound(condition) for condition in association_conditions(SimpleNamespace(**values))]


def refusal(builder: Builder, nodes: Sequence[FieldNode]) -> BadUserInput | None:
    """The BAD_USER_INPUT the interpreter raises before reading anything (schema/query.py: partnerId decoded first,
    then reads.attributed.target_partner), raised by the same calls; None when it raises none of them."""
    sources = {argument(node, "partnerId") for node in nodes}
    if len(sources) != 1:
        return None  # attributed_subscriptions refuses to compile it
    (source,) = sources
    given = source.value(builder.variables)
    try:
        if isinstance(given, str):
            global_id.decode(given, "Partner", field="partnerId")
        elif given is None:
            require_own_partner(builder.caller.roles)
    except BadUserInput as error:
        return error
    return None


def _partner(builder: Builder, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    sources = {argument(node, "partnerId") for node in nodes}
    if len(sources) != 1:
        raise NotCompilable("attributedSubscriptions merged with differing partners")
    (source,) = sources
    if source.value(builder.variables) is None:
        if not reads_own_partner(builder.caller.roles) or not builder.caller.known.partner:
            raise NotCompilable("attributedSubscriptions without a known partner of the caller's own")
        return bindparam(SCOPE_PARTNER_ID, type_=Uuid())
    if not reaches_every_partner(builder.caller.roles):
        raise NotCompilable("attributedSubscriptions of a given partner, for a caller whose grant reaches only its own")
    return builder.bind(source, row_id(builder.decode_id, "Partner"), Uuid())
