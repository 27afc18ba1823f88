"""Connections in SQL, as resolvers.queries pages them: the caller's rows in the key's order after the cursor, one
more than asked (that one only says a next page exists), with ROW_NUMBER for order; edges, pageInfo and their
cursors built by one aggregate over that page; totalCount counted without the cursor, as `count_rows` does."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graphql import FieldNode
from sqlalchemy import ColumnElement, Select, false, func, literal_column, select, true, tuple_, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.types import Integer, Text

from resolvers.compiled import filters, sql_text
from resolvers.compiled.bindings import Source, argument, only_arguments, page_size
from resolvers.compiled.catalog import OBJECTS, TYPES, ObjectType, ToMany
from resolvers.compiled.errors import NotCompilable
from resolvers.compiled.filters import FilterSpec, SearchSpec
from resolvers.errors import BadUserInput
from resolvers.pagination import SortKey

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

# Written into the statement: a bound 1 would need a value at every execution.
_ONE = literal_column("1", Integer)

Where = Callable[[Any], list[ColumnElement[bool]]]
# A field of an edge beyond cursor and node (attributedSubscriptions' `associations`): (page, field nodes) -> SQL.
EdgeField = Callable[[Any, Sequence[FieldNode]], ColumnElement[Any]]


def _cursor_part(key: SortKey, index: int) -> Callable[[object], object]:
    def convert(value: object) -> object:
        if not isinstance(value, str):
            raise NotCompilable("a cursor that is not a string")
        try:
            return key.decode(value)[index]
        except BadUserInput as error:
            raise NotCompilable("a cursor the interpreter refuses") from error

    return convert


class ConnectionBuilder:
    def __init__(self, builder: Builder) -> None:
        self.builder = builder

    def root(
        self, target: str, key: SortKey, spec: FilterSpec | SearchSpec | None, nodes: Sequence[FieldNode]
    ) -> ColumnElement[Any]:
        where, allowed = self._filtered(spec, nodes)
        return self._connection(TYPES[target], key, where, nodes, parent=None, allowed=allowed)

    def root_with(
        self,
        target: ObjectType,
        key: SortKey,
        where: Where,
        nodes: Sequence[FieldNode],
        *,
        allowed: set[str],
        type_name: str,
        edge_fields: Mapping[str, EdgeField],
        parent: Any = None,
    ) -> ColumnElement[Any]:
        """A connection of its own kind (attributedSubscriptions, and Partner's under `parent`): its rows,
        arguments and edge fields."""
        return self._connection(
            target, key, where, nodes, parent=parent, allowed=allowed, type_name=type_name, edge_fields=edge_fields
        )

    def nested(self, field: ToMany, parent: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        filtered, allowed = self._filtered(field.filter, nodes)

        def where(child: Any) -> list[ColumnElement[bool]]:
            return [field.condition(child, parent), *filtered(child)]

        return self._connection(OBJECTS[field.target], field.key, where, nodes, parent=parent, allowed=allowed)

    def _filtered(self, spec: FilterSpec | SearchSpec | None, nodes: Sequence[FieldNode]) -> tuple[Where, set[str]]:
        """The connection's filter (or search) conditions, and the arguments it takes."""
        if spec is None:
            return (lambda _child: []), {"first", "after"}
        if isinstance(spec, SearchSpec):
            for node in nodes:
                only_arguments(node, {"first", "after", "search"})
            return filters.searched(self.builder, spec, nodes), {"first", "after", "search"}
        for node in nodes:
            only_arguments(node, {"first", "after", "filter"})
        return filters.conditions(self.builder, spec, nodes), {"first", "after", "filter"}

    def _connection(
        self,
        target: ObjectType,
        key: SortKey,
        where: Where,
        nodes: Sequence[FieldNode],
        *,
        parent: Any,
        allowed: set[str],
        type_name: str | None = None,
        edge_fields: Mapping[str, EdgeField] | None = None,
    ) -> ColumnElement[Any]:
        """`type_name`: the connection's own GraphQL name stem (default the target's: SubscriptionConnection,
        SubscriptionEdge); `edge_fields`: an edge's fields beyond cursor and node.

        `parent`: the alias a nested connection belongs to. SQLAlchemy correlates a subquery only to the
        statement right around it, and the page is a FROM item two levels down, so every statement that names
        the parent says so (`correlate`); without it the parent table would join in again, unfiltered."""
        builder = self.builder
        for node in nodes:
            only_arguments(node, allowed)
        first, after = self._arguments(nodes)
        size = builder.bind(first, page_size(builder.max_page_size), Integer())
        page, after_given = self._page(target, key, where, size, after, parent)
        position = page.c.position
        in_page = position <= size
        cursor = sql_text.cursor(key.name, [page.c[column.key] for column in key.columns])

        stem = type_name or target.name
        pairs: list[ColumnElement[Any]] = []
        for response_key, field_nodes in builder.selections.under(f"{stem}Connection", nodes).items():
            name = field_nodes[0].name.value
            if name == "edges":
                edge = self._edge(target, stem, page, cursor, field_nodes, edge_fields or {})
                edges = func.json_agg(aggregate_order_by(edge, position)).filter(in_page)
                value: ColumnElement[Any] = func.coalesce(edges, literal_column("'[]'::json"))
            elif name == "pageInfo":
                value = self._page_info(field_nodes, cursor, position, size, after_given)
            elif name == "totalCount":
                counted = target.table.alias(f"c{next(builder.names)}")
                count = (
                    select(func.count()).select_from(counted).where(*where(counted), builder.visible(target, counted))
                )
                value = _correlated(count, parent).scalar_subquery()
            elif name == "__typename":
                value = sql_text.const(f"{stem}Connection")
            else:
                raise NotCompilable(f"{stem}Connection.{name}")
            pairs += [sql_text.const(response_key), value]
        # HAVING without GROUP BY makes this one aggregate row even over an empty page, whatever was selected.
        aggregate = select(func.json_build_object(*pairs)).select_from(page).having(true())
        return _correlated(aggregate, parent).scalar_subquery()

    def _arguments(self, nodes: Sequence[FieldNode]) -> tuple[Source, Source]:
        firsts = {argument(node, "first") for node in nodes}
        afters = {argument(node, "after") for node in nodes}
        if len(firsts) != 1 or len(afters) != 1:
            raise NotCompilable("a connection merged with differing arguments")
        return firsts.pop(), afters.pop()

    def _page(
        self, target: ObjectType, key: SortKey, where: Where, size: Any, after: Source, parent: Any
    ) -> tuple[Any, bool]:
        builder = self.builder
        child = builder.alias(target)
        columns = [child.c[column.key] for column in key.columns]
        conditions = [*where(child), builder.visible(target, child)]
        after_given = after.value(builder.variables) is not None
        if after_given:
            bound = [builder.bind(after, _cursor_part(key, index), column.type) for index, column in enumerate(columns)]
            row, values = tuple_(*columns), tuple_(*bound)
            conditions.append(row < values if key.descending else row > values)
        order = [column.desc() if key.descending else column.asc() for column in columns]
        position = func.row_number().over(order_by=order).label("position")
        shown = [column for column in child.c if column.key not in target.hidden]
        ranked = select(*shown, position).where(*conditions).order_by(*order).limit(size + _ONE)
        page = _correlated(ranked, parent).subquery(f"page{next(builder.names)}")
        return page, after_given

    def _edge(
        self,
        target: ObjectType,
        stem: str,
        page: Any,
        cursor: ColumnElement[Any],
        nodes: Sequence[FieldNode],
        edge_fields: Mapping[str, EdgeField],
    ) -> Any:
        pairs: list[ColumnElement[Any]] = []
        for response_key, field_nodes in self.builder.selections.under(f"{stem}Edge", nodes).items():
            name = field_nodes[0].name.value
            if name == "cursor":
                value = cursor
            elif name == "node":
                value = self.builder.object_json(target, page, field_nodes)
            elif name == "__typename":
                value = sql_text.const(f"{stem}Edge")
            elif name in edge_fields:
                value = edge_fields[name](page, field_nodes)
            else:
                raise NotCompilable(f"{stem}Edge.{name}")
            pairs += [sql_text.const(response_key), value]
        return func.json_build_object(*pairs)

    def _page_info(
        self, nodes: Sequence[FieldNode], cursor: ColumnElement[Any], position: Any, size: Any, after_given: bool
    ) -> ColumnElement[Any]:
        pairs: list[ColumnElement[Any]] = []
        for response_key, field_nodes in self.builder.selections.under("PageInfo", nodes).items():
            name = field_nodes[0].name.value
            if name == "hasNextPage":
                value: ColumnElement[Any] = func.count() > size
            elif name == "hasPreviousPage":
                value = true() if after_given else false()
            elif name == "startCursor":
                value = func.max(cursor).filter(position == _ONE)
            elif name == "endCursor":
                value = _last_cursor(cursor, position, size)
            elif name == "__typename":
                value = sql_text.const("PageInfo")
            else:
                raise NotCompilable(f"PageInfo.{name}")
            pairs += [sql_text.const(response_key), value]
        return func.json_build_object(*pairs)


def _correlated(statement: Select[Any], parent: Any) -> Select[Any]:
    return statement if parent is None else statement.correlate(parent)


def _last_cursor(cursor: ColumnElement[Any], position: Any, size: Any) -> ColumnElement[Any]:
    """The cursor of the last edge: the highest position within the page (the extra row is no edge)."""
    newest_first = func.array_agg(aggregate_order_by(cursor, position.desc())).filter(position <= size)
    return type_coerce(newest_first, ARRAY(Text))[_ONE]
