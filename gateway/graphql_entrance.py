"""POST /graphql in one ASGI callable: what the middleware stack does for such a request, without its layers.

Why: a compiled read answered by the fast lane (schema/fast_lane.py) spends most of its CPU around the lane, not
in it. Starlette passes each request through five layers (server errors, CORS, the bearer token, exception
handlers, the router and its route) before the view, each with its own `send` wrapper, and read (3) paid for them
on every request (bench/results/2026-12-07-fast-lane-cpu.md).

The entrance sits in front of that stack and takes only a POST to exactly `/graphql` without an `Origin` header
(servers and scripts; a browser's request, with its `Origin`, goes through CORS as before), and does what the stack
would do with it, in the same order:
- a server error before the response started answers 500 "Internal Server Error" and is raised again
  (Starlette's ServerErrorMiddleware, without a handler or debug, as `create_app` builds it);
- every response gets `Vary: Origin` (what CORSMiddleware adds to a response to a request without `Origin`);
- the bearer token is checked by the bearer middleware's own `guard` (gateway/bearer.py), refusals and log lines
  included;
- the view serves the request (`GraphQLView.serve_http`, which the route calls for every other HTTP request).
The exception middleware and the router add nothing to such a request: the route matches, and the view raises no
Starlette HTTPException (its refusals are answered by the view itself). Everything else (GET, other paths, a mount
under a root path, websockets, lifespan) goes through the stack untouched. `tests/service/test_graphql_entrance.py`
sends the same requests through both and requires the same status, headers and body.
"""

from __future__ import annotations

from typing import TypeVar

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.bearer import BearerTokenMiddleware
from gateway.graphql_view import GraphQLView

_Layer = TypeVar("_Layer")


class GraphQLEntrance:
    def __init__(self, stack: ASGIApp, *, view: GraphQLView) -> None:
        """`stack`: the application's middleware stack as Starlette built it, whose bearer middleware (and the
        error handling around it) the entrance stands in for."""
        self.stack = stack
        self.view = view
        self.bearer = _layer(stack, BearerTokenMiddleware)
        _layer(stack, CORSMiddleware)  # whose `Vary` the entrance adds
        errors = _layer(stack, ServerErrorMiddleware)
        if errors.handler is not None or errors.debug:
            raise ValueError("the GraphQL entrance answers server errors as Starlette's default 500 only")
        self.path = self.bearer.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._takes(scope):
            await self.stack(scope, receive, send)
            return
        started = False

        async def send_varied(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                _vary_origin(message)
            await send(message)

        try:
            await self.bearer.guard(scope, receive, send_varied, self.view.serve_http)
        except Exception:
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise

    def _takes(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            return False
        if scope.get("root_path"):
            return False  # mounted under a prefix: the router's reading of the path decides
        return not any(name == b"origin" for name, _ in scope["headers"])


def _vary_origin(message: Message) -> None:
    """CORSMiddleware's `Vary` for a request without `Origin`, with its code where the response has a Vary of its
    own (none of the view's has): "Origin" appended."""
    headers = message["headers"] = list(message.get("headers", ()))  # as MutableHeaders(scope=message) makes it
    if any(name == b"vary" for name, _ in headers):
        varied = MutableHeaders(scope=message)
        varied["Vary"] = ", ".join([*varied.getlist("Vary"), "Origin"])
    else:
        headers.append((b"vary", b"Origin"))


def _layer(stack: ASGIApp, kind: type[_Layer]) -> _Layer:
    """The middleware of this kind in Starlette's stack (each layer holds the next as `app`)."""
    layer: object = stack
    while not isinstance(layer, kind):
        layer = getattr(layer, "app", None)
        if layer is None:
            raise ValueError(f"the middleware stack has no {kind.__name__}")
    return layer
