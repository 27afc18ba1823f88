"""Over the websocket, subscriptions only: queries and mutations are sent over HTTP.

graphql-transport-ws lets a client run any operation on the socket, and Strawberry would execute it. The HTTP
view does more for a query or mutation than the schema's extensions do (the request's body limits, the fast lane,
the access log line, `retry-after` on a rate-limited answer), and one door is easier to hold than two, so the
socket refuses them before anything runs (METHOD_NOT_ALLOWED, as a mutation sent over GET is).
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.codes import Code
from schema.extensions.errors import coded_error


class SubscriptionsOnlyOverWebSockets(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        request = getattr(context.context, "request", None)
        if isinstance(request, WebSocket) and context.operation_type is not OperationType.SUBSCRIPTION:
            raise coded_error(
                "Only subscriptions run over the websocket; send queries and mutations as HTTP POST /graphql.",
                Code.METHOD_NOT_ALLOWED,
            )
        yield
