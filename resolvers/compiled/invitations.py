"""`Partner.dporInvitations(first:, after:, filter: {status:})` in SQL, as resolvers/invitations/issuing
.list_dpor_invitations reads it: the partner row's invitations, newest first (INVITATION_ORDER), under the caller's
row filter of invitations, for a caller whose grant on the operation reaches the row (compiled/partner_reach.py;
elsewhere MISSING, the interpreter's FORBIDDEN).

An invitation's status is decided against the gateway's clock: the instant is `Builder.clock()`, a parameter read
per request from db.clock (never the database's `now()`), and `status` is resolvers.invitations.state.status_case
at that instant, the CASE tested to agree with `state.status`, so it keeps status's boundaries (EXPIRED from
`expires_at` on). The filter keeps the rows whose status at that instant is among the given ones: its statuses are
one bound array (which ones are named shapes nothing, so one plan serves every list); omitted or null, every row;
an empty list is the interpreter's BAD_USER_INPUT, left to it. One instant serves the whole statement, where the
interpreter reads the clock for the filter and again for each row's status: with a stopped clock (the tests') the
two agree; a running one could only make the interpreter's answer straddle a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import EnumValueNode, FieldNode, ListValueNode, NullValueNode, ObjectValueNode, ValueNode, VariableNode
from sqlalchemy import ColumnElement, any_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from resolvers.compiled.bindings import Source
from resolvers.compiled.catalog import OBJECTS
from resolvers.compiled.errors import NotCompilable
from resolvers.compiled.filters import filter_value
from resolvers.invitations.issuing import INVITATION_ORDER
from resolvers.invitations.state import DporInvitationStatus, status_case

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

INVITATION = OBJECTS["DporInvitation"]


def of_partner_row(builder: Builder, parent: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    """The connection of the parent partner row's invitations (schema/partner.py passes the row's id)."""
    statuses = _statuses(builder, nodes)

    def where(rows: Any) -> list[ColumnElement[bool]]:
        conditions = [rows.c.partner_id == parent.c.id]
        if statuses is not None:
            conditions.append(status(builder, rows) == any_(statuses))
        return conditions

    return builder.connections.root_with(
        INVITATION,
        INVITATION_ORDER,
        where,
        nodes,
        allowed={"first", "after", "filter"},
        type_name="DporInvitation",
        edge_fields={},
        parent=parent,
    )


def status(builder: Builder, rows: Any) -> ColumnElement[Any]:
    """An invitation row's status (its name) at the gateway's instant: state.status_case, its constants the plan's."""
    return builder.constants_bound(status_case(builder.clock(), rows))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Statuses:
    """The filter's `status` list as the interpreter receives it: of a variable holding the whole filter, of a
    variable holding the list, or of a literal list (its items enum names or variables); a single value given for
    the list is a list of one, as GraphQL coerces it. None: not filtered."""

    whole: str | None  # the variable holding the whole filter
    listed: Source | None  # the variable holding the list, or null
    items: tuple[Source, ...] | None  # a literal list's items

    def value(self, variables: Mapping[str, Any]) -> object:
        if self.items is not None:
            return [item.value(variables) for item in self.items]
        if self.listed is not None:
            return self.listed.value(variables)
        given = variables.get(self.whole) if self.whole is not None else None
        return given.get("status") if isinstance(given, Mapping) else None


def _names(value: object) -> object:
    """The bound array: each status's name. Empty is the interpreter's BAD_USER_INPUT."""
    if not isinstance(value, list) or not value:
        raise NotCompilable("a status filter the interpreter refuses (empty), or given, then not")
    names = []
    for given in value:
        if isinstance(given, DporInvitationStatus):
            names.append(given.value)
        elif isinstance(given, str) and given in DporInvitationStatus.__members__:
            names.append(DporInvitationStatus[given].value)
        else:
            raise NotCompilable("a status that is none")
    return names


def _statuses(builder: Builder, nodes: Sequence[FieldNode]) -> ColumnElement[Any] | None:
    """The bound array of statuses to keep, or None when the filter keeps every row (whether it is given is part of
    the plan: a literal in the document text, a variable's shape in bindings.plan_inputs)."""
    source = _source(filter_value(nodes))
    if source is None or source.value(builder.variables) is None:
        return None
    return builder.bind(source, _names, ARRAY(Text()))


def _source(value: ValueNode | None) -> _Statuses | None:
    if value is None or isinstance(value, NullValueNode):
        return None
    if isinstance(value, VariableNode):
        return _Statuses(value.name.value, None, None)
    if not isinstance(value, ObjectValueNode):
        raise NotCompilable("a filter")
    fields = {field.name.value: field.value for field in value.fields}
    if set(fields) - {"status"}:
        raise NotCompilable(f"filter fields {sorted(set(fields) - {'status'})}")
    given = fields.get("status")
    if given is None or isinstance(given, NullValueNode):
        return None
    if isinstance(given, VariableNode):
        return _Statuses(None, Source(None, given.name.value), None)
    items = given.values if isinstance(given, ListValueNode) else (given,)
    return _Statuses(None, None, tuple(_item(item) for item in items))


def _item(value: ValueNode) -> Source:
    if isinstance(value, EnumValueNode):
        return Source(value.value, None)
    if isinstance(value, VariableNode):
        return Source(None, value.name.value)
    raise NotCompilable("a status filter item")
