"""Turns one query operation, for one shape of caller, into one SQL statement whose value is the response's `data`.

The statement nests a `json_build_object` per selected object, in the document's field order (`json`, not `jsonb`,
keeps keys in the order given), with a scalar subquery per related object. Every table is aliased and carries the
caller's row filter (auth.row_filters, adapted to the alias), so the compiled answer sees exactly the rows the
interpreter's loaders see. Anything the planner does not know raises `NotCompilable`, and the request runs on the
interpreter instead: the choice is per document and caller shape, never per field.

Where the interpreter would answer with an error it does not decide ahead (a non-null object out of reach, which is
NOT_FOUND there), the statement writes `MISSING` in that place and the runner falls back for that request.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
)
from sqlalchemy import ColumnElement, Select, bindparam, case, cast, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.types import Text

from auth.policy import FIELDS, OPERATIONS, READ, read_filters
from auth.principal import Role
from auth.row_filters import SCOPE_PARTNER_ID, SCOPE_TENANT_ID, Known, predicate
from resolvers.compiled.catalog import INTERFACES, TYPES, Column, Kind, ObjectType, ToOne

# Written where a required object is out of reach. No data can produce it: PostgreSQL text holds no NUL, a
# response key is a GraphQL name, and a structural `{"` never occurs inside a JSON string (quotes are escaped).
MISSING = '{"\\u0000":0}'
_MISSING_SQL: ColumnElement[Any] = literal_column(f"'{MISSING}'::json")

# json_build_object takes at most 100 arguments: 50 keys.
_MAX_KEYS = 50

# Root fields fetching one object by id: the type the id must name, and whether the field is guarded by an
# operation of auth.policy.OPERATIONS (node is not: it answers null for anything out of reach).
_BY_ID_ROOTS: Mapping[str, str | None] = {
    "node": None,
    "subscription": "Subscription",
    "tenant": "Tenant",
    "partner": "Partner",
}

DecodeId = Callable[[str], tuple[str, uuid.UUID]]


class NotCompilable(Exception):
    """The document (or this request's variables) needs the interpreter."""


@dataclass(frozen=True, slots=True)
class CallerShape:
    """What the compiled SQL depends on about the caller: its roles and which of its ids are known. Its ids
    themselves are bind parameters."""

    roles: frozenset[Role]
    known: Known


@dataclass(frozen=True, slots=True)
class RootId:
    """A root field's `id` argument: the bind parameter it fills, from a literal of the document or a variable."""

    parameter: str
    literal: str | None
    variable: str | None

    def value(self, variables: Mapping[str, Any]) -> str:
        return self.literal if self.literal is not None else str(variables[self.variable or ""])


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement, compiled once for asyncpg, the order of its positional parameters, and the root ids that
    fill some of them (the caller's ids fill the others)."""

    sql: str
    parameters: tuple[str, ...]
    roots: tuple[RootId, ...]

    def arguments(self, values: Mapping[str, object]) -> tuple[object, ...]:
        return tuple(values[name] for name in self.parameters)


class _Builder:
    def __init__(
        self,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        caller: CallerShape,
        decode_id: DecodeId,
    ) -> None:
        self.operation = operation
        self.fragments = fragments
        self.variables = variables
        self.caller = caller
        self.decode_id = decode_id
        self.aliases = itertools.count()
        self.roots: list[RootId] = []

    # -- selections ----------------------------------------------------------------------------------------------

    def _included(self, selection: SelectionNode) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                raise NotCompilable(f"directive @{name}")
            arguments = directive.arguments or ()
            if len(arguments) != 1:
                raise NotCompilable(f"@{name} without its one argument")
            value = arguments[0].value
            if isinstance(value, BooleanValueNode):
                condition = value.value
            elif isinstance(value, VariableNode) and isinstance(self.variables.get(value.name.value), bool):
                condition = self.variables[value.name.value]
            else:
                raise NotCompilable("a directive condition that is not a boolean")
            if condition is (name == "skip"):
                return False
        return True

    def _applies(self, condition: str | None, type_name: str) -> bool:
        if condition is None or condition == type_name or condition in INTERFACES:
            return True
        if condition in TYPES or condition == "Query":
            return False
        raise NotCompilable(f"a fragment on {condition}")

    def collect(self, type_name: str, selection_sets: Iterable[SelectionSetNode]) -> dict[str, list[FieldNode]]:
        """Response keys in order, each with the field nodes merged under it (GraphQL's CollectFields)."""
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def walk(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self._included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition.name.value if selection.type_condition else None
                    if self._applies(condition, type_name):
                        walk(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in visited:
                        continue
                    visited.add(name)
                    fragment = self.fragments[name]
                    if self._applies(fragment.type_condition.name.value, type_name):
                        walk(fragment.selection_set)

        for selection_set in selection_sets:
            walk(selection_set)
        if len(fields) > _MAX_KEYS:
            raise NotCompilable("too many keys for one json_build_object")
        return fields

    # -- objects -------------------------------------------------------------------------------------------------

    def _visible(self, object_type: ObjectType, alias: Any) -> ColumnElement[bool]:
        rules = read_filters(object_type.entity, self.caller.roles)
        shape = (object_type.entity, rules, self.caller.known)
        return ClauseAdapter(alias).traverse(predicate(shape))

    def _field_readable(self, object_type: ObjectType, field: str) -> None:
        """A field the policy guards compiles only when its answer is the same for every row the caller may
        reach: every role that reads the parent also reads the field's entity. Otherwise (FORBIDDEN for all, or
        for some rows) the interpreter decides, per row."""
        entity = FIELDS.get((object_type.name, field))
        if entity is None:
            return
        reaching = [role for role in self.caller.roles if role in READ[object_type.entity]]
        if not reaching or any(role not in READ[entity] for role in reaching):
            raise NotCompilable(f"{object_type.name}.{field} depends on the row or is forbidden")

    def object_json(self, object_type: ObjectType, alias: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        pairs: list[ColumnElement[Any]] = []
        selection_sets = [node.selection_set for node in nodes if node.selection_set is not None]
        for key, field_nodes in self.collect(object_type.name, selection_sets).items():
            name = field_nodes[0].name.value
            pairs += [_const(key), self._field_value(object_type, alias, name, field_nodes)]
        return func.json_build_object(*pairs)

    def _field_value(
        self, object_type: ObjectType, alias: Any, name: str, field_nodes: Sequence[FieldNode]
    ) -> ColumnElement[Any]:
        if name == "__typename":
            return literal_column(f"'{object_type.name}'")
        field = object_type.fields.get(name)
        if field is None or any(node.arguments for node in field_nodes):
            raise NotCompilable(f"{object_type.name}.{name}")
        self._field_readable(object_type, name)
        if isinstance(field, Column):
            return _scalar(alias.c[field.name], field.kind, object_type.name)
        return self._related(field, alias, field_nodes)

    def _related(self, field: ToOne, parent: Any, field_nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        target = TYPES[field.target]
        child = target.table.alias(f"{target.table.name[:1]}{next(self.aliases)}")
        value = (
            select(self.object_json(target, child, field_nodes))
            # No LIMIT: the condition picks one row by key (the DPOR: by the partial unique index); were it ever two,
            # PostgreSQL's error would send the request to the interpreter.
            .where(field.condition(child, parent), self._visible(target, child))
            .scalar_subquery()
        )
        return func.coalesce(value, _MISSING_SQL) if field.required else value

    # -- the root ------------------------------------------------------------------------------------------------

    def _root_id(self, node: FieldNode) -> tuple[str | None, str | None]:
        """(literal, variable): where the root field's id comes from."""
        arguments = {argument.name.value: argument.value for argument in node.arguments or ()}
        if set(arguments) != {"id"}:
            raise NotCompilable("a root field's arguments")
        value = arguments["id"]
        if isinstance(value, StringValueNode):
            return value.value, None
        if isinstance(value, VariableNode) and isinstance(self.variables.get(value.name.value), str):
            return None, value.name.value
        raise NotCompilable("an id that is not a string")

    def _root_field(self, name: str, field_nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        if name == "__typename":
            return _const("Query")
        if name not in _BY_ID_ROOTS or len({self._root_id(node) for node in field_nodes}) != 1:
            raise NotCompilable(f"Query.{name}")
        expected = _BY_ID_ROOTS[name]
        if expected is not None and not set(OPERATIONS[name].grants) & self.caller.roles:
            raise NotCompilable(f"Query.{name} is forbidden to the caller")
        root = RootId(f"root_{len(self.roots)}", *self._root_id(field_nodes[0]))
        type_name = root_type(root.value(self.variables), self.decode_id)
        if type_name is None or type_name not in TYPES or (expected is not None and type_name != expected):
            raise NotCompilable(f"an id of type {type_name}")
        target = TYPES[type_name]
        self.roots.append(root)
        alias = target.table.alias(f"r{len(self.roots)}")
        value = (
            select(self.object_json(target, alias, field_nodes))
            .where(alias.c.id == bindparam(root.parameter, type_=target.table.c.id.type), self._visible(target, alias))
            .scalar_subquery()
        )
        return func.coalesce(value, _MISSING_SQL) if expected is not None else value

    def statement(self) -> Select[Any]:
        pairs: list[ColumnElement[Any]] = []
        for key, field_nodes in self.collect("Query", [self.operation.selection_set]).items():
            pairs += [_const(key), self._root_field(field_nodes[0].name.value, field_nodes)]
        return select(cast(func.json_build_object(*pairs), Text))


def _const(value: str) -> ColumnElement[Any]:
    """A SQL string constant written into the statement (a GraphQL name or a fixed format, never input): a bind
    parameter would need a value at every execution."""
    assert "'" not in value
    return literal_column(f"'{value}'")


def _scalar(column: Any, kind: Kind, type_name: str) -> ColumnElement[Any]:
    if kind is Kind.STRING:
        return column  # type: ignore[no-any-return]
    if kind is Kind.IS_NULL:
        return column.is_(None)  # type: ignore[no-any-return]
    if kind is Kind.UUID:
        return cast(column, Text)
    if kind is Kind.DATE:
        return func.to_char(column, _const("YYYY-MM-DD"))
    if kind is Kind.DATETIME:
        # datetime.isoformat(): microseconds only when there are some; the API writes UTC as "Z".
        utc = column.op("AT TIME ZONE")(_const("UTC"))
        seconds = func.to_char(utc, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
        fraction = func.to_char(utc, _const(".US"))
        whole = func.date_trunc(_const("second"), column) == column
        return seconds.op("||")(case((whole, _const("")), else_=fraction)).op("||")(_const("Z"))
    # GLOBAL_ID: base64url of "Type:hex", unpadded (schema.global_id.encode). PostgreSQL's base64 breaks lines
    # every 76 characters; translate drops the newlines while it swaps the alphabet.
    text = _const(f"{type_name}:").op("||")(func.replace(cast(column, Text), _const("-"), _const("")))
    encoded = func.encode(func.convert_to(text, _const("UTF8")), _const("base64"))
    return func.rtrim(func.translate(encoded, literal_column("E'+/\\n'"), _const("-_")), _const("="))


def root_type(value: str, decode_id: DecodeId) -> str | None:
    """The type a global id names, or None when it is malformed (the interpreter answers BAD_USER_INPUT)."""
    try:
        return decode_id(value)[0]
    except Exception:
        return None


def plan(
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    caller: CallerShape,
    decode_id: DecodeId,
) -> Plan:
    """The plan of this operation for this caller shape and these variables' plan inputs (see `plan_key`)."""
    builder = _Builder(operation, fragments, variables, caller, decode_id)
    compiled = builder.statement().compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[no-untyped-call]
    parameters = tuple(compiled.positiontup or ())
    bound = {SCOPE_TENANT_ID, SCOPE_PARTNER_ID} | {root.parameter for root in builder.roots}
    if not set(parameters) <= bound:  # a constant left as a parameter would be sent without its value
        raise AssertionError(f"unbound parameters {sorted(set(parameters) - bound)}")
    return Plan(compiled.string, parameters, tuple(builder.roots))


def plan_inputs(variables: Mapping[str, Any], decode_id: DecodeId) -> tuple[tuple[str, object], ...]:
    """What a plan may depend on in the variables: booleans (@skip/@include) and the type an id names (node). The
    rest are bind parameters. Literal arguments are in the document text, which is part of the key already."""
    inputs: list[tuple[str, object]] = []
    for name, value in variables.items():
        if isinstance(value, bool):
            inputs.append((name, value))
        elif isinstance(value, str):
            inputs.append((name, root_type(value, decode_id)))
        else:
            inputs.append((name, type(value).__name__))
    return tuple(inputs)
