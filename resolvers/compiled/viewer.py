"""`viewer` in SQL, as schema/viewer.py answers it: the caller's roles and permitted operations are the caller
shape's (written into the statement), its subject, client id and scopes bind parameters of their own (filled by
the runner from the caller, `values`), its tenant and partner the rows the caller's ids name, under their row
filters (null when the token names none, or the caller may not see it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from graphql import FieldNode
from sqlalchemy import ColumnElement, bindparam, func, literal_column, null
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text, Uuid

from auth.policy import permitted_operations
from auth.row_filters import SCOPE_PARTNER_ID, SCOPE_TENANT_ID
from auth.scope import CallerScope
from resolvers.compiled import sql_text
from resolvers.compiled.errors import NotCompilable

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

SUBJECT, CLIENT_ID, SCOPES = "viewer_subject", "viewer_client_id", "viewer_scopes"
PARAMETERS = frozenset({SUBJECT, CLIENT_ID, SCOPES})


def values(scope: CallerScope) -> Mapping[str, object]:
    """The viewer's parameters for this caller (schema/viewer.viewer's values)."""
    principal = scope.principal
    return {SUBJECT: principal.subject, CLIENT_ID: principal.client_id, SCOPES: sorted(principal.scopes)}


def _names(names: Sequence[str]) -> ColumnElement[Any]:
    """A list of GraphQL names (roles, operations) as a JSON constant of the statement."""
    text = orjson.dumps(list(names)).decode()
    assert "'" not in text and "\\" not in text
    return literal_column(f"'{text}'::json")


def viewer(builder: Builder, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    roles = sorted(builder.caller.roles, key=lambda role: role.value)
    known = builder.caller.known
    pairs: list[ColumnElement[Any]] = []
    for key, field_nodes in builder.selections.under("Viewer", nodes).items():
        name = field_nodes[0].name.value
        if any(node.arguments for node in field_nodes):
            raise NotCompilable(f"arguments of Viewer.{name}")
        value: ColumnElement[Any]
        if name == "subject":
            value = func.to_json(bindparam(SUBJECT, type_=Text()))
        elif name == "clientId":
            value = func.to_json(bindparam(CLIENT_ID, type_=Text()))
        elif name == "scopes":
            value = func.to_json(bindparam(SCOPES, type_=ARRAY(Text())))
        elif name == "roles":
            value = _names([role.name for role in roles])
        elif name == "permissions":
            value = _names(permitted_operations(roles))
        elif name == "tenant":
            tenant = bindparam(SCOPE_TENANT_ID, type_=Uuid())
            value = builder.by_id("Tenant", tenant, field_nodes) if known.tenant else null()
        elif name == "partner":
            partner = bindparam(SCOPE_PARTNER_ID, type_=Uuid())
            value = builder.by_id("Partner", partner, field_nodes) if known.partner else null()
        elif name == "__typename":
            value = sql_text.const("Viewer")
        else:
            raise NotCompilable(f"Viewer.{name}")
        pairs += [sql_text.const(key), value]
    return func.json_build_object(*pairs)
