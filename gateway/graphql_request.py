"""The parameters of one GraphQL-over-HTTP request, checked before GraphQL sees them.

GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/#sec-Request-Parameters) names them:
`query` (a string), `operationName` (a string or null), `variables` and `extensions` (objects or null), and,
for persisted documents, `documentId` (a string). A body that is not a JSON object (`null`, `123`, `"s"`)
or a parameter of the wrong type is refused here with 400 BAD_REQUEST naming it (`extensions.field`):
Strawberry checks only some of them, only for a single operation, and its metrics label and executor fail
with a TypeError (an INTERNAL error, or a 500) on the others.
"""

from __future__ import annotations

from typing import Any

from strawberry.http import GraphQLRequestData, GraphQLRequestProtocol

from gateway.refusals import RequestRefused
from resolvers.codes import Code
from schema.extensions.persisted import DOCUMENT_ID_EXTENSION

# Parameter name -> (accepted type, how the refusal names it).
_PARAMETERS: dict[str, tuple[type, str]] = {
    "query": (str, "a string"),
    "operationName": (str, "a string"),
    "variables": (dict, "an object"),
    "extensions": (dict, "an object"),
    "documentId": (str, "a string"),
}


def operation_request(data: object, protocol: GraphQLRequestProtocol) -> GraphQLRequestData:
    """One operation's parameters (a JSON body, one entry of a batch, or a GET's query parameters)."""
    if not isinstance(data, dict):
        raise RequestRefused(
            400, Code.BAD_REQUEST, "A GraphQL request must be a JSON object (a list of them for a batch)."
        )
    for name, (kind, described) in _PARAMETERS.items():
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            raise RequestRefused(400, Code.BAD_REQUEST, f"`{name}` must be {described} or null.", field=name)
    extensions: dict[str, Any] | None = data.get("extensions")
    document_id: str | None = data.get("documentId")
    if document_id is not None:
        # Carried to the persisted documents extension the way Apollo's `persistedQuery` already is.
        extensions = {**(extensions or {}), DOCUMENT_ID_EXTENSION: document_id}
    return GraphQLRequestData(
        query=data.get("query"),
        variables=data.get("variables"),
        operation_name=data.get("operationName"),
        extensions=extensions,
        protocol=protocol,
    )
