"""The GraphQL HTTP endpoint: Strawberry's ASGI view with our context, JSON encoder and request ids."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from db.engine import Database
from gateway.settings import Settings
from resolvers.context import RequestContext

REQUEST_ID_HEADER = "x-request-id"


def request_id_of(request: Request | WebSocket) -> str:
    """Reuse a well-formed caller request id (for tracing across services), otherwise mint one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(given) <= 64 and given.isascii() and given.replace("-", "").isalnum():
        return given
    return uuid.uuid4().hex


class GraphQLView(GraphQL[RequestContext, None]):
    def __init__(self, schema: strawberry.Schema, *, database: Database, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=True,
        )
        self.database = database
        self.settings = settings

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> RequestContext:
        assert isinstance(request, Request) and isinstance(response, Response)
        request_id = request_id_of(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        return RequestContext(
            request=request,
            response=response,
            database=self.database,
            settings=self.settings,
            request_id=request_id,
            principal=request.scope.get("dpor.principal"),
        )

    def encode_json(self, data: Any) -> bytes:
        # orjson: several times faster than the stdlib encoder on result-sized payloads.
        return orjson.dumps(data)
