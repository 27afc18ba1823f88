"""Values written in SQL exactly as the interpreter's serializers write them: instants, dates, UUIDs, global ids and
keyset cursors. Each function names the Python it mirrors; the differential test holds them to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, literal_column
from sqlalchemy.types import DateTime, Text, Uuid

from resolvers.compiled.catalog import Kind

# Written where a required object is out of reach. No data can produce it: PostgreSQL text holds no NUL, a
# response key is a GraphQL name, and a structural `{"` never occurs inside a JSON string (quotes are escaped).
MISSING = '{"\\u0000":0}'
MISSING_SQL: ColumnElement[Any] = literal_column(f"'{MISSING}'::json")


def const(value: str) -> ColumnElement[Any]:
    """A SQL string constant written into the statement (a GraphQL name or a fixed format, never input): a bind
    parameter would need a value at every execution."""
    assert "'" not in value and "\\" not in value
    return literal_column(f"'{value}'")


def concat(*parts: ColumnElement[Any]) -> ColumnElement[Any]:
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(part)
    return joined


def _utc_seconds(column: Any) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(YYYY-MM-DDTHH:MM:SS, and ".ffffff" or "") of an instant in UTC, as datetime.isoformat() splits them."""
    utc = column.op("AT TIME ZONE")(const("UTC"))
    seconds = func.to_char(utc, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
    whole = func.date_trunc(const("second"), column) == column
    return seconds, case((whole, const("")), else_=func.to_char(utc, const(".US")))


def instant(column: Any) -> ColumnElement[Any]:
    """schema.scalars._serialize_datetime: isoformat in UTC with "Z"."""
    seconds, fraction = _utc_seconds(column)
    return concat(seconds, fraction, const("Z"))


def uuid_hex(column: Any) -> ColumnElement[Any]:
    """uuid.UUID.hex."""
    return func.replace(cast(column, Text), const("-"), const(""))


def base64url(text: ColumnElement[Any]) -> ColumnElement[Any]:
    """base64.urlsafe_b64encode(text).rstrip("="). PostgreSQL's base64 breaks lines every 76 characters; translate
    drops the newlines while it swaps the alphabet."""
    encoded = func.encode(func.convert_to(text, const("UTF8")), const("base64"))
    return func.rtrim(func.translate(encoded, literal_column("E'+/\\n'"), const("-_")), const("="))


def global_id(type_name: str | ColumnElement[Any], column: Any) -> ColumnElement[Any]:
    """resolvers.global_id.encode: base64url of "Type:hex", unpadded. The type is a name, or a column holding it
    (AuditEvent.targetId); the id a UUID column, or a text one holding a UUID."""
    if not isinstance(column.type, Uuid):
        column = cast(column, Uuid)
    prefix = const(f"{type_name}:") if isinstance(type_name, str) else concat(type_name, const(":"))
    return base64url(concat(prefix, uuid_hex(column)))


def scalar(column: Any, kind: Kind, type_name: str | ColumnElement[Any]) -> ColumnElement[Any]:
    if kind is Kind.STRING:
        return column  # type: ignore[no-any-return]
    if kind is Kind.IS_NULL:
        return column.is_(None)  # type: ignore[no-any-return]
    if kind is Kind.EMPTY_IF_NULL:
        return func.coalesce(column, const(""))
    if kind is Kind.UUID:
        return cast(column, Text)
    if kind is Kind.DATE:
        return func.to_char(column, const("YYYY-MM-DD"))
    if kind is Kind.DATETIME:
        return instant(column)
    assert kind is Kind.GLOBAL_ID, kind
    return global_id(type_name, column)


def _cursor_value(column: Any) -> ColumnElement[Any]:
    """A sort value as resolvers.pagination._to_json writes it, then as JSON text (orjson's, no spaces)."""
    if isinstance(column.type, Uuid):
        return concat(const('"'), uuid_hex(column), const('"'))
    if isinstance(getattr(column.type, "impl", column.type), DateTime):
        seconds, fraction = _utc_seconds(column)
        return concat(const('"'), seconds, fraction, const('+00:00"'))
    if isinstance(column.type, String):
        # to_json escapes as orjson does ("\\", "\"", \b \f \n \r \t, other controls as \u00XX, the rest as is).
        return cast(func.to_json(column), Text)
    raise TypeError(f"no cursor text for {column.type!r}")


def cursor(name: str, columns: Sequence[Any]) -> ColumnElement[Any]:
    """resolvers.pagination.SortKey.cursor: base64url of orjson.dumps([name, [values...]])."""
    values: list[ColumnElement[Any]] = []
    for index, column in enumerate(columns):
        if index:
            values.append(const(","))
        values.append(_cursor_value(column))
    return base64url(concat(const(f'["{name}",['), *values, const("]]")))
