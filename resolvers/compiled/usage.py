"""Usage fields in SQL: `Subscription.usage`, `Tenant.usage` and `Partner.attributedUsage`, each the parent row's
rows as the interpreter's usage loader returns them (resolvers/usage/loaders.py, by_parent.py).

Why the interpreter's own statements, wrapped, and no usage SQL of the compiler's: which rollup rows a window reads
(the month span), which days an association covers whole and the caller's usage filter are the subtle part, and
resolvers/usage/plan.py already picks them for a window, grouping and usage filter. The compiler asks that plan for
the field's statements, renames their bind parameters (fixed names) to this plan's bindings, filled per request
from the field's arguments, and puts the parent row's id where the parent filter (`subscription_id`, `tenant_id`,
`partner_id`) was: each parent row then gets exactly the rows `aggregates_by_parent` gives it. The statements'
rows are added up by key and listed in the interpreter's order by usage_rows.py; partner-scoped reads (the plan's
boundary statement) get their attributed sums and attribution from usage_attributed.py.

The usage filter (auth.policy.usage_filter) is the one the interpreter picks for the row in hand: a token holding a
tenant role and PARTNER reads its own tenant's usage under one and other tenants' under the other, so the statement
then holds both and picks by the parent row; where a row's usage is FORBIDDEN (`attributedUsage` of a partner the
caller's grant does not reach) it writes MISSING there. Compiled only for a window check_window accepts (plan
inputs keep later requests on the same side: usage_arguments.py). Where the interpreter answers an error it decides
after SQL, the statement writes MISSING: more rows than `max_usage_rows` (TOO_MANY_USAGE_ROWS), or a sum too large
for its 28-digit Decimal arithmetic.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graphql import FieldNode
from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    and_,
    bindparam,
    case,
    literal_column,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.visitors import replacement_traverse
from sqlalchemy.types import Uuid

from auth.policy import READ, Entity, RowFilter, operation_reaches_partner, usage_filter
from auth.row_filters import SCOPE_PARTNER_ID, SCOPE_TENANT_ID, Shape, UsageVisibility
from resolvers.compiled import sql_text
from resolvers.compiled.bindings import driver_value, only_arguments, row_id
from resolvers.compiled.catalog import Usage
from resolvers.compiled.errors import NotCompilable
from resolvers.compiled.usage_arguments import RootWindow, Window, groups, root_window, window
from resolvers.compiled.usage_attributed import attributed_sums, attribution_json
from resolvers.compiled.usage_rows import plain_sums, rows_json
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.plan import plan as usage_plan
from resolvers.usage.statements import Statement
from resolvers.usage.validation import UsageInputError

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

DIALECT = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
# Each parent's filter of its own usage (by_parent.py's sets of one), and the entity whose rows are its parents.
PARENT_FILTER: Mapping[GroupBy, str] = {
    GroupBy.SUBSCRIPTION: "subscription_id",
    GroupBy.TENANT: "tenant_id",
    GroupBy.PARTNER: "partner_id",
}
_OWN, _OTHER = uuid.UUID(int=1), uuid.UUID(int=2)  # stand-ins for the caller's own tenant or partner, and another


def usage_field(builder: Builder, parent: Any, field: Usage, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    if builder.max_usage_rows is None:
        raise NotCompilable("usage without the row bound in force")
    allowed = {"from", "to", "groupBy"} | ({"associationType"} if field.parent is GroupBy.PARTNER else set())
    for node in nodes:
        only_arguments(node, allowed)
    given, grouped = window(field.parent, list(nodes)), groups(list(nodes), builder.variables)
    rules = _row_rules(builder, field.parent)
    known = builder.caller.known

    def rows_under(rule: RowFilter | None) -> ColumnElement[Any]:
        if rule is None:
            return sql_text.MISSING_SQL
        reach = (Entity.USAGE, frozenset({rule}), known)
        return _rows(builder, (PARENT_FILTER[field.parent], parent), nodes, given, grouped, reach)

    if len(set(rules.values())) <= 1:  # one filter everywhere (none: the caller reaches no parent row)
        return rows_under(next(iter(rules.values()), None))
    # The interpreter decides per row (a token holding OWNER and PARTNER reads its own tenant's usage under the
    # tenant's filter, other tenants' within its partner's windows): so does the statement.
    return case((_is_own(field.parent, parent), rows_under(rules[True])), else_=rows_under(rules[False]))


def usage_root(builder: Builder, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    """`usageAggregates`: the rows of its filter as resolvers.usage.reads.aggregate_usage reads them, under the
    usage filter usage_filter picks for the filter's tenant and partner. Whether those are the caller's own is known
    only per request: where it decides the filter, the statement holds each and picks by the bound ids."""
    if builder.max_usage_rows is None:
        raise NotCompilable("usage without the row bound in force")
    for node in nodes:
        only_arguments(node, {"filter", "groupBy"})
    given, grouped = root_window(list(nodes), builder.decode_id), groups(list(nodes), builder.variables)
    read = given.value(builder.variables)
    roles, known = builder.caller.roles, builder.caller.known
    caller = {"caller_tenant_id": _OWN if known.tenant else None, "caller_partner_id": _OWN if known.partner else None}
    # (own tenant?, own partner?) -> the rule; a filter field not given, or a caller id not known, is never own.
    rules: dict[tuple[bool, bool], RowFilter | None] = {}
    for own_tenant in (False, True) if read.tenant_id is not None and known.tenant else (False,):
        for own_partner in (False, True) if read.partner_id is not None and known.partner else (False,):
            rules[own_tenant, own_partner] = usage_filter(
                roles,
                **caller,
                row_tenant_id=None if read.tenant_id is None else _OWN if own_tenant else _OTHER,
                row_partner_id=None if read.partner_id is None else _OWN if own_partner else _OTHER,
            )

    def rows_under(rule: RowFilter | None) -> ColumnElement[Any]:
        if rule is None:  # FORBIDDEN, which the interpreter words
            return sql_text.MISSING_SQL
        return _rows(builder, None, nodes, given, grouped, (Entity.USAGE, frozenset({rule}), known))

    if len(set(rules.values())) == 1:
        return rows_under(next(iter(rules.values())))
    whens = []
    for (own_tenant, own_partner), rule in rules.items():
        conditions = []
        if read.tenant_id is not None and known.tenant:
            conditions.append(_same(builder, given, "tenantId", "Tenant", SCOPE_TENANT_ID, own_tenant))
        if read.partner_id is not None and known.partner:
            conditions.append(_same(builder, given, "partnerId", "Partner", SCOPE_PARTNER_ID, own_partner))
        whens.append((and_(*conditions), rows_under(rule)))
    return case(*whens)


def _same(
    builder: Builder, given: RootWindow, name: str, type_name: str, scope_id: str, own: bool
) -> ColumnElement[bool]:
    """Whether the filter's `name` id is (`own`) or is not the caller's own, in SQL."""
    source = dict(given.fields)[name]
    bound = builder.bind(source, row_id(builder.decode_id, type_name), Uuid())
    same = bound.is_not_distinct_from(bindparam(scope_id, type_=Uuid()))
    return same if own else ~same


def _rows(
    builder: Builder,
    parent: tuple[str, Any] | None,
    nodes: Sequence[FieldNode],
    given: Window | RootWindow,
    grouped: frozenset[GroupBy],
    reach: Shape,
) -> ColumnElement[Any]:
    """The field's rows as JSON, for parent rows the interpreter reads under the usage filter of `reach`.
    `parent`: the parent filter's name and the parent row's alias (None: the root's rows, by its filter alone)."""
    try:
        planned = usage_plan(given.value(builder.variables), grouped, DIALECT.name, UsageVisibility(reach, {}))
    except UsageInputError as error:
        raise NotCompilable("a window the interpreter refuses") from error
    if planned is None:  # no day of the window can hold usage: the interpreter answers [] without SQL
        return literal_column("'[]'::json")
    renamed = _Renamed(builder, given, grouped, reach, parent)
    sums = [renamed(statement) for statement in planned.sums]
    if planned.boundary is not None:  # partner-scoped
        boundary = renamed(planned.boundary)
        rows = attributed_sums(builder, sums, boundary, planned.groups, tuple(renamed.spans.values()))
        return rows_json(builder, rows, nodes, attribution_json)
    return rows_json(builder, plain_sums(builder, sums), nodes, None)


def _row_rules(builder: Builder, parent: GroupBy) -> dict[bool, RowFilter | None]:
    """The usage filter (auth.policy.usage_filter) the interpreter reads a parent row's usage under, by whether the
    row is the caller's own (its tenant's; for Partner.attributedUsage, its partner) or another's, for each kind
    of parent row the caller may reach. None: FORBIDDEN on such rows."""
    roles, known = builder.caller.roles, builder.caller.known
    caller = {"caller_tenant_id": _OWN if known.tenant else None, "caller_partner_id": _OWN if known.partner else None}
    rules: dict[bool, RowFilter | None] = {}
    if parent is GroupBy.PARTNER:
        readers = [READ[Entity.PARTNER][role] for role in roles if role in READ[Entity.PARTNER]]
        for own, row in ((True, _OWN), (False, _OTHER)):
            if (known.partner and readers) if own else RowFilter.ALL in readers:
                granted = operation_reaches_partner("attributedUsage", roles, row, caller["caller_partner_id"])
                rules[own] = usage_filter(roles, **caller, row_partner_id=row) if granted else None
    else:
        if known.tenant:
            rules[True] = usage_filter(roles, **caller, row_tenant_id=_OWN)
        rules[False] = usage_filter(roles, **caller, row_tenant_id=_OTHER)
    return rules


def _is_own(parent: GroupBy, row: Any) -> ColumnElement[bool]:
    """Whether the parent row (`row`, its alias) is the caller's own, in SQL: _row_rules' key."""
    if parent is GroupBy.PARTNER:
        return row.c.id.is_not_distinct_from(bindparam(SCOPE_PARTNER_ID, type_=Uuid()))  # type: ignore[no-any-return]
    tenant = row.c.id if parent is GroupBy.TENANT else row.c.tenant_id
    return tenant.is_not_distinct_from(bindparam(SCOPE_TENANT_ID, type_=Uuid()))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1024)
def _values(read: AggregateFilter, grouped: frozenset[GroupBy], reach: Shape) -> Mapping[str, Any]:
    """The usage statements' parameter values for one request's window (the interpreter's: plan.py's)."""
    try:
        planned = usage_plan(read, grouped, DIALECT.name, UsageVisibility(reach, {}))
    except UsageInputError as error:
        raise NotCompilable("a window the interpreter refuses") from error
    if planned is None:
        raise NotCompilable("a window without usage days, for a plan of one with some")
    return planned.parameters


class _Renamed:
    """Copies of a field's usage statements with this plan's parameters: the usage filter's caller ids stay (the
    runner binds them by the same names), the parent filter becomes the parent row's id, each other named parameter
    one binding (the same name, the same binding, across the field's statements), each constant one too."""

    def __init__(
        self,
        builder: Builder,
        given: Window | RootWindow,
        grouped: frozenset[GroupBy],
        reach: Shape,
        parent: tuple[str, Any] | None,
    ) -> None:
        self.builder, self.given, self.grouped, self.reach = builder, given, grouped, reach
        self.parent_filter = parent[0] if parent is not None else None
        # The parent's id by its alias' name: a column of the enclosing statement, several subqueries down, where
        # SQLAlchemy's correlation (one level) would add the parent's table again.
        self.parent_id = literal_column(f"{parent[1].name}.id", Uuid()) if parent is not None else None
        self.names: dict[str, ColumnElement[Any]] = {}
        # The statements' CTE (statements.association_spans), renamed once: every statement then reads the same one,
        # which the enclosing statement declares (usage_attributed.attributed_sums).
        self.spans: dict[CTE, CTE] = {}

    def __call__(self, statement: Statement) -> Statement:
        return replacement_traverse(statement, {}, self._replace)  # type: ignore[return-value]

    def _replace(self, element: Any, **_: Any) -> Any:
        if isinstance(element, CTE):
            if element not in self.spans:
                self.spans[element] = replacement_traverse(element, {}, self._rename)  # type: ignore[assignment]
            return self.spans[element]
        return self._rename(element)

    def _rename(self, element: Any, **_: Any) -> ColumnElement[Any] | None:
        if not isinstance(element, BindParameter) or element.key in (SCOPE_TENANT_ID, SCOPE_PARTNER_ID):
            return None
        if element.key == self.parent_filter:
            return self.parent_id
        if element.key not in self.names:
            if element.unique:  # a constant of the statement ('UTC', 'month', one second)
                self.names[element.key] = self.builder.constant(element)
            else:
                self.names[element.key] = self.builder.bind(self.given, self._parameter(element), element.type)
        return self.names[element.key]

    def _parameter(self, element: BindParameter[Any]) -> Any:
        name, type_, grouped, reach = element.key, element.type, self.grouped, self.reach

        def convert(read: object) -> object:
            assert isinstance(read, AggregateFilter)
            return driver_value(type_, _values(read, grouped, reach)[name])

        return convert
