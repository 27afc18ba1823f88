"""Pure ASGI middleware: no GraphQL request runs without a valid bearer token.

The HTTP side of RFC 6750 (the token parsing and the challenge are auth.rfc6750's, the validation
auth.authenticator's); it lives in gateway/ because it answers refusals in the API's error shape and codes.

It guards the GraphQL path only (health probes need no token) and puts the caller's Principal in
``scope["dpor.principal"]``, where the GraphQL view reads it. A refused request is answered here, before any
of the application (or the database) sees it:

- 401 with ``WWW-Authenticate: Bearer realm="..."`` when there are no credentials (RFC 6750 section 3.1),
- 401 with ``error="invalid_token"`` for a token that is malformed, expired, forged or not meant for us,
- 403 with ``error="insufficient_scope"`` for a valid token that grants no role here.

A websocket handshake without an Authorization header passes on to the view, which takes the token from the
graphql-transport-ws `connection_init` message (gateway/graphql_view.py); one with a header is checked here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from authlib.oauth2.base import OAuth2Error  # type: ignore[import-untyped]
from starlette.types import ASGIApp, Receive, Scope, Send

from auth.authenticator import Authenticator
from auth.rfc6750 import InsufficientScopeError, challenge
from resolvers.codes import Code

logger = logging.getLogger(__name__)

PRINCIPAL_SCOPE_KEY = "dpor.principal"

# Same message for every invalid token: which check failed would help someone forging them.
_MESSAGES = {
    None: "Authentication required.",
    "invalid_token": "The access token is invalid.",
    "insufficient_scope": "The access token grants no role on this API.",
}


class BearerTokenMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        path: str = "/graphql",
        ide_page_visit: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.path = path
        # In dev, a browser opening GraphiQL's page (which runs nothing) cannot send a token. The predicate is
        # the one the view answers with the page, so nothing it lets through executes an operation.
        self.ide_page_visit = ide_page_visit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self._guards(scope["path"]):
            await self.app(scope, receive, send)
            return
        await self.guard(scope, receive, send, self.app)

    async def guard(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """The checks of a guarded request, then `app` with the caller in the scope (or the refusal). The GraphQL
        entrance (gateway/graphql_entrance.py) calls it with the view itself as `app`."""
        # Whatever a caller or an outer layer put here is not ours to trust.
        scope.pop(PRINCIPAL_SCOPE_KEY, None)
        if self.ide_page_visit is not None and self.ide_page_visit(scope):
            await app(scope, receive, send)
            return
        authorization = [value.decode("latin-1") for name, value in scope["headers"] if name == b"authorization"]
        if scope["type"] == "websocket" and not authorization:
            # A browser cannot set headers on a websocket: graphql-transport-ws carries the token in its
            # `connection_init` message, which the GraphQL view validates (as here) before anything runs.
            await app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(authorization)
        except OAuth2Error as error:
            logger.info(
                "refused %s %s: %s (%s)",
                scope.get("method", "WEBSOCKET"),
                scope["path"],
                error.error or "no credentials",
                _reason(error),
            )
            await self._refuse(scope, send, error)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await app(scope, receive, send)

    def _guards(self, path: str) -> bool:
        return path == self.path or path.startswith(self.path + "/")

    async def _refuse(self, scope: Scope, send: Send, error: OAuth2Error) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server answer the handshake with 403 (ASGI spec).
            await send({"type": "websocket.close", "code": 1008})
            return
        forbidden = isinstance(error, InsufficientScopeError)
        body = orjson.dumps(
            {
                "errors": [
                    {
                        "message": _MESSAGES.get(error.error, _MESSAGES["invalid_token"]),
                        "extensions": {"code": (Code.FORBIDDEN if forbidden else Code.UNAUTHENTICATED).value},
                    }
                ]
            }
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", challenge(self.authenticator.realm, error).encode()),
            # RFC 6750 section 5.3 / RFC 6749 section 5.1: authorization responses are not to be cached.
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 403 if forbidden else 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _reason(error: OAuth2Error) -> str:
    """Which check refused the request, for the log (the response never says: see _MESSAGES)."""
    if error.description:
        return str(error.description)
    cause = error.__cause__
    return type(cause).__name__ if cause is not None else type(error).__name__
