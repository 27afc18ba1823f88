"""One door per kind of operation: over the websocket subscriptions only, and subscriptions over the websocket only.

graphql-transport-ws lets a client run any operation on the socket, and Strawberry would execute it. The HTTP
view does more for a query or mutation than the schema's extensions do (the request's body limits, the fast lane,
the access log line, `retry-after` on a rate-limited answer), and one door is easier to hold than two, so the
socket refuses them before anything runs (METHOD_NOT_ALLOWED, as a mutation sent over GET is).

The other way round, a subscription sent over HTTP would be executed as a query (its resolver's stream is not a
value: "Cannot return null", logged as an unexpected error), and Strawberry's HTTP stream transports (graphql-sse,
multipart subscriptions) are not enabled: they would skip what the socket enforces (README, "GraphQL
subscriptions"). It is refused the same way, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.codes import Code
from schema.extensions.errors import coded_error


class SubscriptionsOnlyOverWebSockets(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        request = getattr(context.context, "request", None)
        subscription = context.operation_type is OperationType.SUBSCRIPTION
        if isinstance(request, WebSocket) and not subscription:
            raise coded_error(
                "Only subscriptions run over the websocket; send queries and mutations as HTTP POST /graphql.",
                Code.METHOD_NOT_ALLOWED,
            )
        if isinstance(request, Request) and subscription:
            raise coded_error(
                "Subscriptions run over a graphql-transport-ws websocket on /graphql, not over HTTP.",
                Code.METHOD_NOT_ALLOWED,
            )
        yield
