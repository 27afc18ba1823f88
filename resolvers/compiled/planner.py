"""Turns one query operation, for one shape of caller, into one SQL statement whose value is the response's `data`.

The statement nests a `json_build_object` per selected object, in the document's field order (`json`, not `jsonb`,
keeps keys in the order given), a scalar subquery per related object and one aggregate per connection page. Every
table is aliased and carries the caller's row filter (auth.row_filters, adapted to the alias), so the compiled
answer sees exactly the rows the interpreter's loaders see. Anything the planner does not know raises
`NotCompilable`, and the request runs on the interpreter instead: the choice is per document and caller shape,
never per field.

Where the interpreter would answer with an error it does not decide ahead (a non-null object out of reach, which is
NOT_FOUND there), the statement writes `MISSING` in that place and the runner falls back for that request.

Two errors are decided ahead, before any row is read: a guarded root field (auth.policy.OPERATIONS) none of the
caller's roles is granted, which the interpreter's OperationPolicy refuses before its resolver runs, whatever its
arguments and selections; and a root whose id (`node`, `nodes`, `tenant`, `subscription`, `partner`,
`attributedSubscriptions`' partnerId, `pendingClaims`' tenantId) the
interpreter's resolver refuses before it reads anything (resolvers.global_id's own BAD_USER_INPUT, raised here by
the same call). The plan names that root (`Refused`); its value is null in the statement, and the extension adds
the error as graphql-core locates a resolver's (schema/extensions/compiled_reads.py). Only one such root per plan:
with two, the order of the interpreter's errors is its scheduler's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    ListValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    print_ast,
)
from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, case, cast, func, literal_column, null, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import replacement_traverse
from sqlalchemy.types import Text, Uuid

from auth.policy import FIELDS, OPERATIONS, field_rule, read_filters
from auth.principal import Role
from auth.row_filters import SCOPE_PARTNER_ID, SCOPE_TENANT_ID, Known, predicate
from db.types import UTCDateTime
from resolvers import global_id
from resolvers.compiled import attributed, claims, invitations, partner_reach, sql_text, viewer
from resolvers.compiled.associations import partner_associations
from resolvers.compiled.bindings import (
    Binding,
    Clock,
    DecodeId,
    Item,
    Source,
    Valued,
    argument,
    driver_value,
    id_type,
    only_arguments,
    row_id,
    unchanged,
)
from resolvers.compiled.catalog import (
    BY_ID_ROOTS,
    CONNECTION_ROOTS,
    INTERFACES,
    OBJECTS,
    TYPES,
    AssociationRows,
    AttributedRows,
    Column,
    Embedded,
    Field,
    InvitationRows,
    InvitationStatus,
    ObjectType,
    ToList,
    ToMany,
    ToOne,
    Usage,
)
from resolvers.compiled.connections import ConnectionBuilder
from resolvers.compiled.errors import NotCompilable
from resolvers.compiled.selections import Selections
from resolvers.compiled.usage import usage_field, usage_root
from resolvers.errors import BadUserInput
from resolvers.reads.nodes import MAX_NODES

RootBuilder = Callable[["Builder", Sequence[FieldNode]], ColumnElement[Any]]

# The type of the clock's instant: whole seconds, as db.clock.now_in_seconds gives it and the rows store theirs.
_INSTANT = UTCDateTime(seconds=True)
# Partner fields that are operations too (auth.policy.OPERATIONS): OperationPolicy decides them per row.
PARTNER_OPERATIONS = frozenset({"attributedSubscriptions", "dporInvitations"})
# Root fields guarded by auth.policy.OPERATIONS besides BY_ID_ROOTS' typed ones and CONNECTION_ROOTS.
GUARDED_ROOTS = frozenset({"attributedSubscriptions", "usageAggregates", "partnerByMpnId", "pendingClaims"})


def _id_literal(value: ValueNode) -> Source:
    if isinstance(value, StringValueNode):
        return Source(value.value, None)
    if isinstance(value, VariableNode):
        return Source(None, value.name.value)
    raise NotCompilable("an id that is not a string")


def _text(value: object) -> object:
    if not isinstance(value, str):
        raise NotCompilable("a text argument that is not a string")
    return value


@dataclass(frozen=True, slots=True)
class CallerShape:
    """What the compiled SQL depends on about the caller: its roles and which of its ids are known. Its ids
    themselves are bind parameters."""

    roles: frozenset[Role]
    known: Known


@dataclass(frozen=True, slots=True)
class Refused:
    """A root field the interpreter answers with an error decided before it reads anything: its response key, its
    name, its merged field nodes (the error's locations) and the error its resolver raises (None: the caller's roles
    are not granted the field, OperationPolicy's FORBIDDEN)."""

    key: str
    name: str
    nodes: tuple[FieldNode, ...]
    error: BadUserInput | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement, compiled once for asyncpg, the order of its positional parameters, and the bindings that
    fill them from each request (the caller's ids fill the others)."""

    sql: str
    parameters: tuple[str, ...]
    bindings: tuple[Binding, ...]
    of_viewer: bool = False  # it takes the caller's subject, client id and scopes (compiled/viewer.py)
    refused: Refused | None = None  # a root the interpreter refuses ahead: null in `sql`, an error to add

    def arguments(self, values: Mapping[str, object]) -> tuple[object, ...]:
        return tuple(values[name] for name in self.parameters)


class Builder:
    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        caller: CallerShape,
        decode_id: DecodeId,
        max_page_size: int,
        max_usage_rows: int | None,
    ) -> None:
        self.variables = variables
        self.caller = caller
        self.decode_id = decode_id
        self.max_page_size = max_page_size
        self.max_usage_rows = max_usage_rows  # None: unknown, so no usage field compiles
        self.selections = Selections(fragments, variables, self._applies)
        self.names = itertools.count()
        self.bindings: list[Binding] = []
        self.connections = ConnectionBuilder(self)
        self.refused: list[Refused] = []
        self._clock: ColumnElement[Any] | None = None

    # -- shared by the parts ---------------------------------------------------------------------------------

    def alias(self, object_type: ObjectType) -> Any:
        return object_type.table.alias(f"{object_type.table.name[:1]}{next(self.names)}")

    def bind(self, source: Valued, convert: Any, type_: Any) -> ColumnElement[Any]:
        """A bind parameter filled from `source` at each request; checked now against this request's value."""
        binding = Binding(f"p{len(self.bindings)}", source, convert)
        binding.value(self.variables)  # NotCompilable where the interpreter would refuse the value
        self.bindings.append(binding)
        return bindparam(binding.parameter, type_=type_)

    def clock(self) -> ColumnElement[Any]:
        """The gateway's current instant (bindings.Clock, read per request), one parameter for the whole plan: every
        row of the statement is compared against the same instant."""
        if self._clock is None:
            self._clock = self.bind(Clock(), lambda now: driver_value(_INSTANT, now), _INSTANT)
        return self._clock

    def constant(self, element: BindParameter[Any]) -> ColumnElement[Any]:
        """A constant of a statement written elsewhere (`type = 'DIGITAL_PARTNER_OF_RECORD'`, 'UTC') as one of this
        plan's parameters: the plan's statement is compiled once, with every parameter named."""
        return self.bind(Source(driver_value(element.type, element.value), None), unchanged, element.type)

    def constants_bound(self, clause: Any) -> Any:
        """`clause` with each of its constants a parameter of this plan (`constant`); named parameters stay."""

        def replace(element: Any, **_: Any) -> ColumnElement[Any] | None:
            if isinstance(element, BindParameter) and element.unique:
                return self.constant(element)
            return None

        return replacement_traverse(clause, {}, replace)

    def visible(self, object_type: ObjectType, alias: Any) -> ColumnElement[bool]:
        rules = read_filters(object_type.entity, self.caller.roles)
        shape = (object_type.entity, rules, self.caller.known)
        return ClauseAdapter(alias).traverse(predicate(shape))

    def _applies(self, condition: str | None, type_name: str) -> bool:
        if condition is None or condition == type_name:
            return True
        if condition in INTERFACES:
            return type_name in TYPES
        if condition in OBJECTS or condition == "Query":
            return False
        raise NotCompilable(f"a fragment on {condition}")

    def _field_guard(self, object_type: ObjectType, alias: Any, field: str) -> bool | ColumnElement[bool]:
        """Where auth.policy.FIELDS guards a field, auth.policy.FieldRule.allows for the row in hand: True or False
        when it is the same on every row the caller may reach, else in SQL. Where it fails the statement writes
        MISSING (the interpreter's FORBIDDEN, which it then answers): a document selecting such a field for rows
        the caller has none of still compiles."""
        if object_type.name == "Partner" and field in PARTNER_OPERATIONS:
            return partner_reach.reaches_partner_row(self, field, alias)
        if (object_type.name, field) not in FIELDS:
            return True
        rule = field_rule(object_type.name, field, self.caller.roles)
        if rule.anywhere:
            return True
        decided_by_tenant = rule.reaches_own_tenant and self.caller.known.tenant
        if not decided_by_tenant or rule.on_own_tenant == rule.through_partner:
            return rule.through_partner
        # IS NOT DISTINCT FROM: a row of no tenant the caller reaches (NULL) is not of its own, as in `allows`.
        own = self._row_tenant(object_type, alias).is_not_distinct_from(bindparam(SCOPE_TENANT_ID, type_=Uuid()))
        return own if rule.on_own_tenant else ~own

    def _row_tenant(self, object_type: ObjectType, alias: Any) -> ColumnElement[Any]:
        """The tenant a field rule is decided for: each schema type's `policy_tenant_id`."""
        if object_type.name == "Tenant":
            return alias.c.id  # type: ignore[no-any-return]
        if object_type.name == "Subscription":
            return alias.c.tenant_id  # type: ignore[no-any-return]
        if object_type.name == "PartnerAssociation":  # its subscription's, if the caller reaches that subscription
            subscriptions = TYPES["Subscription"]
            subscription = self.alias(subscriptions)
            return (
                select(subscription.c.tenant_id)
                .where(subscription.c.id == alias.c.subscription_id, self.visible(subscriptions, subscription))
                .scalar_subquery()
            )
        raise NotCompilable(f"a field rule on {object_type.name}")

    def _guarded(self, root_field: str) -> None:
        if not set(OPERATIONS[root_field].grants) & self.caller.roles:
            raise NotCompilable(f"Query.{root_field} is forbidden to the caller")

    # -- objects -------------------------------------------------------------------------------------------------

    def object_json(self, object_type: ObjectType, alias: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        pairs: list[ColumnElement[Any]] = []
        for key, field_nodes in self.selections.under(object_type.name, nodes).items():
            pairs += [sql_text.const(key), self._field_value(object_type, alias, field_nodes)]
        return func.json_build_object(*pairs)

    def _field_value(self, object_type: ObjectType, alias: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        name = nodes[0].name.value
        if name == "__typename":
            return sql_text.const(object_type.name)
        field = object_type.fields.get(name)
        if field is None:
            raise NotCompilable(f"{object_type.name}.{name}")
        guard = self._field_guard(object_type, alias, name)
        if guard is False:
            return sql_text.MISSING_SQL
        value = self._unguarded_value(object_type, alias, field, nodes)
        return value if guard is True else case((guard, func.to_json(value)), else_=sql_text.MISSING_SQL)

    def _unguarded_value(
        self, object_type: ObjectType, alias: Any, field: Field, nodes: Sequence[FieldNode]
    ) -> ColumnElement[Any]:
        if isinstance(field, ToMany):
            return self.connections.nested(field, alias, nodes)
        if isinstance(field, Usage):
            return usage_field(self, alias, field, nodes)
        if isinstance(field, AssociationRows):
            return partner_associations(self, alias, nodes)
        if isinstance(field, AttributedRows):
            return attributed.of_partner_row(self, alias, nodes)
        if isinstance(field, InvitationRows):
            return invitations.of_partner_row(self, alias, nodes)
        if isinstance(field, ToList):
            return self._listed(field, alias, nodes)
        if isinstance(field, Embedded):  # the same row, its own object
            if any(node.arguments for node in nodes):
                raise NotCompilable(f"arguments of {object_type.name}.{nodes[0].name.value}")
            return case((field.present(alias), self.object_json(OBJECTS[field.target], alias, nodes)), else_=null())
        if any(node.arguments for node in nodes):
            raise NotCompilable(f"arguments of {object_type.name}.{nodes[0].name.value}")
        if isinstance(field, InvitationStatus):
            return invitations.status(self, alias)
        if isinstance(field, Column):
            type_name = alias.c[field.type_column] if field.type_column else field.id_type or object_type.name
            return sql_text.scalar(alias.c[field.name], field.kind, type_name)
        return self._related(field, alias, nodes)

    def by_id(self, type_name: str, row_id: ColumnElement[Any], nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        """The object of `type_name` whose id is `row_id` (a column of the enclosing statement), null when there is
        none or the caller may not see it: a loader's `load(id)` with a nullable field."""
        target = TYPES[type_name]
        child = self.alias(target)
        return (
            select(self.object_json(target, child, nodes))
            .where(child.c.id == row_id, self.visible(target, child))
            .scalar_subquery()
        )

    def _related(self, field: ToOne, parent: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        target = TYPES[field.target]
        child = self.alias(target)
        value = (
            # No LIMIT: the condition picks one row by key (the DPOR: by the partial unique index); were it ever two,
            # PostgreSQL's error would send the request to the interpreter.
            select(self.object_json(target, child, nodes))
            .where(field.condition(child, parent), self.visible(target, child))
            .scalar_subquery()
        )
        return func.coalesce(value, sql_text.MISSING_SQL) if field.required else value

    def _listed(self, field: ToList, parent: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        """A list field: the visible related rows in the loader's order, [] when there are none."""
        if any(node.arguments for node in nodes):
            raise NotCompilable(f"arguments of {nodes[0].name.value}")
        target = TYPES[field.target]
        rows = self.alias(target)
        listed = func.json_agg(
            aggregate_order_by(self.object_json(target, rows, nodes), *(rows.c[name] for name in field.order))
        )
        return (
            select(func.coalesce(listed, literal_column("'[]'::json")))
            .where(field.condition(rows, parent), self.visible(target, rows))
            .scalar_subquery()
        )

    # -- the root ------------------------------------------------------------------------------------------------

    def _by_id(self, key: str, name: str, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        expected = BY_ID_ROOTS[name]
        if expected is not None:
            self._guarded(name)
        for node in nodes:
            only_arguments(node, {"id"})
        sources = {argument(node, "id") for node in nodes}
        if len(sources) != 1:
            raise NotCompilable(f"Query.{name} merged with differing ids")
        (source,) = sources
        given = source.value(self.variables)
        if isinstance(given, str):  # the resolver's first step (schema/query.py: _one, _nodes), the same call
            try:
                global_id.decode_any(given) if expected is None else global_id.decode(given, expected)
            except BadUserInput as error:
                return self._refuse(key, nodes, error)
        type_name = id_type(given, self.decode_id)
        if type_name is None or type_name not in TYPES or (expected is not None and type_name != expected):
            raise NotCompilable(f"an id of type {type_name}")
        target = TYPES[type_name]
        alias = self.alias(target)
        wanted = self.bind(source, row_id(self.decode_id, type_name), target.table.c.id.type)
        value = (
            select(self.object_json(target, alias, nodes))
            .where(alias.c.id == wanted, self.visible(target, alias))
            .scalar_subquery()
        )
        return func.coalesce(value, sql_text.MISSING_SQL) if expected is not None else value

    def _by_mpn_id(self, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        """`partnerByMpnId`: the visible partner of that MPN id (resolvers.reads.partners.partner_by_mpn_id); none is
        the interpreter's NOT_FOUND, so MISSING."""
        self._guarded("partnerByMpnId")
        for node in nodes:
            only_arguments(node, {"mpnId"})
        sources = {argument(node, "mpnId") for node in nodes}
        if len(sources) != 1:
            raise NotCompilable("Query.partnerByMpnId merged with differing ids")
        (source,) = sources
        target = TYPES["Partner"]
        alias = self.alias(target)
        wanted = self.bind(source, _text, target.table.c.mpn_id.type)
        value = (
            select(self.object_json(target, alias, nodes))
            .where(alias.c.mpn_id == wanted, self.visible(target, alias))
            .scalar_subquery()
        )
        return func.coalesce(value, sql_text.MISSING_SQL)

    def _nodes(self, key: str, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        """`nodes(ids:)`: each id's object, in order, null where out of reach (as `node`); more than MAX_NODES ids,
        or one that is no global id of a compilable type, is the interpreter's (BAD_USER_INPUT, or unknown)."""
        for node in nodes:
            only_arguments(node, {"ids"})
        values = {print_ast(given.value) for node in nodes for given in node.arguments or ()}
        if len(values) != 1:
            raise NotCompilable("Query.nodes merged with differing ids")
        value = next(given.value for given in nodes[0].arguments or ())
        sources: list[Valued]
        if isinstance(value, VariableNode):
            listed = self.variables.get(value.name.value)
            count = len(listed) if isinstance(listed, list) else 0
            sources = [Item(value.name.value, index) for index in range(count)]
        elif isinstance(value, ListValueNode):
            sources = [_id_literal(item) for item in value.values]
        else:
            sources = [_id_literal(value)]  # a single id given for the list
        if len(sources) > MAX_NODES:
            raise NotCompilable("more ids than nodes takes")
        for index, source in enumerate(sources):  # every id decoded before anything is read, as _nodes does
            given = source.value(self.variables)
            if isinstance(given, str):
                try:
                    global_id.decode_any(given, field=f"ids[{index}]")
                except BadUserInput as error:
                    return self._refuse(key, nodes, error)
        found: list[ColumnElement[Any]] = []
        for source in sources:
            type_name = id_type(source.value(self.variables), self.decode_id)
            if type_name is None or type_name not in TYPES:
                raise NotCompilable(f"an id of type {type_name}")
            wanted = self.bind(source, row_id(self.decode_id, type_name), TYPES[type_name].table.c.id.type)
            found.append(self.by_id(type_name, wanted, nodes))
        return func.json_build_array(*found)

    def _root_field(self, key: str, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        name = nodes[0].name.value
        if name == "__typename":
            return sql_text.const("Query")
        if name in BY_ID_ROOTS:
            return self._by_id(key, name, nodes)
        if name == "nodes":
            return self._nodes(key, nodes)
        if name == "partnerByMpnId":
            return self._by_mpn_id(nodes)
        if name in CONNECTION_ROOTS:
            self._guarded(name)
            target, order, spec = CONNECTION_ROOTS[name]
            return self.connections.root(target, order, spec, nodes)
        if name in _REFUSING_ROOTS:
            self._guarded(name)
            refusal, compiled = _REFUSING_ROOTS[name]
            error = refusal(self, nodes)
            if error is not None:
                return self._refuse(key, nodes, error)
            return compiled(self, nodes)
        if name == "usageAggregates":
            self._guarded(name)
            return usage_root(self, nodes)
        if name == "viewer":
            return viewer.viewer(self, nodes)
        raise NotCompilable(f"Query.{name}")

    def _refuse(self, key: str, nodes: Sequence[FieldNode], error: BadUserInput | None) -> ColumnElement[Any]:
        """A root the interpreter refuses before reading anything: recorded, its value null (see the module)."""
        if self.refused:
            raise NotCompilable("two roots refused ahead")
        self.refused.append(Refused(key, nodes[0].name.value, tuple(nodes), error))
        return null()

    def _forbidden(self, name: str) -> bool:
        """A guarded root the caller's roles are not granted."""
        guarded = BY_ID_ROOTS.get(name) is not None or name in GUARDED_ROOTS or name in CONNECTION_ROOTS
        return guarded and not set(OPERATIONS[name].grants) & self.caller.roles

    def statement(self, operation: OperationDefinitionNode) -> Select[Any]:
        pairs: list[ColumnElement[Any]] = []
        for key, nodes in self.selections.collect("Query", [operation.selection_set]).items():
            forbidden = self._forbidden(nodes[0].name.value)
            value = self._refuse(key, nodes, None) if forbidden else self._root_field(key, nodes)
            pairs += [sql_text.const(key), value]
        return select(cast(func.json_build_object(*pairs), Text))


# Guarded roots of their own modules whose arguments the interpreter may refuse ahead: (refusal, statement).
_REFUSING_ROOTS: Mapping[str, tuple[Callable[[Builder, Sequence[FieldNode]], BadUserInput | None], RootBuilder]] = {
    "attributedSubscriptions": (attributed.refusal, attributed.attributed_subscriptions),
    "pendingClaims": (claims.refusal, claims.pending_claims),
}


def plan(
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    caller: CallerShape,
    decode_id: DecodeId,
    max_page_size: int,
    max_usage_rows: int | None = None,
) -> Plan:
    """The plan of this operation for this caller shape and these variables' plan inputs (bindings.plan_inputs,
    usage_arguments.usage_inputs)."""
    builder = Builder(fragments, variables, caller, decode_id, max_page_size, max_usage_rows)
    compiled = builder.statement(operation).compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[no-untyped-call]
    parameters = tuple(compiled.positiontup or ())
    bound = (
        {SCOPE_TENANT_ID, SCOPE_PARTNER_ID} | viewer.PARAMETERS | {binding.parameter for binding in builder.bindings}
    )
    if not set(parameters) <= bound:  # a constant left as a parameter would be sent without its value
        raise AssertionError(f"unbound parameters {sorted(set(parameters) - bound)}")
    refused = builder.refused[0] if builder.refused else None
    of_viewer = bool(viewer.PARAMETERS & set(parameters))
    return Plan(compiled.string, parameters, tuple(builder.bindings), of_viewer, refused)
