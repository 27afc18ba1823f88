"""The GraphQL HTTP endpoint: Strawberry's ASGI view with our context, JSON encoder and request ids.

Before GraphQL runs, the view refuses (with a JSON GraphQL error and a code, see gateway/refusals.py):
bodies over `max_body_bytes` (`max_ingest_body_bytes` for usage ingest callers; 413, by Content-Length or while
streaming, never read in full), bodies slower than `http_body_timeout_seconds` (408), POST bodies that are not
`application/json` (415: a cross-site form cannot send JSON without a CORS preflight; GET and POST alike need
the bearer token, itself a header that forces a preflight: see README, "CSRF"), bodies that are not JSON or
not UTF-8 (400), request parameters of the wrong type (400, gateway/graphql_request.py), batches when batching
is off or longer than `max_batch_operations` (400), and mutations over GET (405). A rate-limited request
answers 429 with `Retry-After` (set by the rate-limit extension); a batch in which only some operations were
refused answers 200.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import orjson
import strawberry
from authlib.oauth2.base import OAuth2Error  # type: ignore[import-untyped]
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, GraphQLRequestProtocol
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from auth.authenticator import Authenticator
from auth.principal import Principal, Role
from db import statement_counter
from db.engine import Database
from db.replicas import RoutedRequestDatabase
from gateway import graphiql, metrics
from gateway.bearer import PRINCIPAL_SCOPE_KEY
from gateway.graphql_request import operation_request
from gateway.refusals import RequestRefused, limited_receive, too_large
from gateway.settings import Settings
from gateway.websocket_handler import GatewayTransportWSHandler, hold_place
from gateway.websocket_limits import WebsocketCount
from resolvers.change_feed import ChangeFeed
from resolvers.codes import Code
from resolvers.context import FastLaneHandover, RequestContext
from resolvers.rate_limiter import RateLimiter
from schema.extensions.masking import MASKED_MESSAGE
from schema.fast_lane import FastLane

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_SCOPE_KEY = "dpor.request_id"
REQUEST_DATABASE_SCOPE_KEY = "dpor.database"
# What the fast lane did before it handed the request to the full pipeline (resolvers.context.FastLaneHandover).
HANDOVER_SCOPE_KEY = "dpor.fast_lane_handover"
# Development only: how many SQL statements the request sent (tests and N+1 hunting read it).
STATEMENTS_HEADER = "x-dpor-sql-statements"
# A websocket's timer that closes it when its token expires (cancelled when the socket ends first).
EXPIRY_SCOPE_KEY = "dpor.token_expiry"
# graphql-transport-ws: the server rejects a `connection_init` it refuses with 4403 Forbidden (the protocol's
# recommendation, and what Strawberry sends for ConnectionRejectionError); the same code when the token expires,
# as the issue asks, since the caller is no longer allowed, rather than 4401 (which the protocol keeps for a
# `subscribe` sent before the connection was acknowledged).
CLOSE_FORBIDDEN = 4403

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)
def _media_type(content_type: str) -> str:
    """Strawberry's reading of a Content-Type header, without its parameters. Remembered: it parses the header with
    the email package, a measurable share of a fast-lane request, and clients send a handful of distinct headers
    (64 kept, least recently used out)."""
    return parse_content_type(content_type)[0]


def request_id_of(request: Request | WebSocket) -> str:
    """Reuse a well-formed caller request id (for tracing across services), otherwise mint one; the same id
    for every caller within one request."""
    known: str | None = request.scope.get(REQUEST_ID_SCOPE_KEY)
    if known is not None:
        return known
    given = request.headers.get(REQUEST_ID_HEADER, "")
    well_formed = 0 < len(given) <= 64 and given.isascii() and given.replace("-", "").isalnum()
    request_id = given if well_formed else uuid.uuid4().hex
    request.scope[REQUEST_ID_SCOPE_KEY] = request_id
    return request_id


class GraphQLView(GraphQL[RequestContext, None]):
    # graphql-transport-ws with the gateway's limits (gateway/websocket_handler.py).
    graphql_transport_ws_handler_class = GatewayTransportWSHandler

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        database: Database,
        settings: Settings,
        rate_limiter: RateLimiter | None = None,
        invitation_code_limiter: RateLimiter | None = None,
        authenticator: Authenticator | None = None,
        change_feed: ChangeFeed | None = None,
        websocket_count: WebsocketCount | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=True,
            # graphql-transport-ws only: the legacy subscriptions-transport-ws protocol is unmaintained and has no
            # rule for rejecting its connection_init.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.subscription_init_timeout_seconds),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        )
        self.authenticator = authenticator
        self.change_feed = change_feed
        self.websocket_count = websocket_count
        self.websocket_idle_timeout_seconds = settings.websocket_idle_timeout_seconds
        self._expiring: set[asyncio.Task[None]] = set()
        self.database = database
        self.settings = settings
        self.rate_limiter = rate_limiter
        self.invitation_code_limiter = invitation_code_limiter
        # The API's schema carries its fast lane (schema/fast_lane.py); a test's own schema has none.
        self.fast_lane: FastLane | None = getattr(schema, "fast_lane", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            try:
                await super().__call__(scope, receive, send)
            finally:
                expiry: asyncio.TimerHandle | None = scope.pop(EXPIRY_SCOPE_KEY, None)
                if expiry is not None:
                    expiry.cancel()
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await self.serve_http(scope, receive, send)

    async def serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request, once the caller is known: from the route, or from the GraphQL entrance
        (gateway/graphql_entrance.py), which calls it directly for a POST to /graphql."""
        body_limit = self._body_limit(scope)
        limited = limited_receive(receive, body_limit, self.settings.http_body_timeout_seconds)
        request = Request(scope, receive=limited)
        # Every read of this request (and of each operation of a batch) shares one pooled connection, given back
        # before the response is sent.
        database = scope[REQUEST_DATABASE_SCOPE_KEY] = self.database.for_request()
        principal: Principal | None = scope.get(PRINCIPAL_SCOPE_KEY)
        if isinstance(database, RoutedRequestDatabase) and principal is not None:
            database.pinned_subject = principal.subject  # read-your-writes is per caller (db/read_pins.py)
        answer: Response | _Answer
        with statement_counter.counting():
            try:
                self._check_declared_length(request, body_limit)
                fast = await self._fast(request)
                if isinstance(fast, _Answer):
                    answer = fast
                else:
                    if fast is not None:  # the body the lane read: the pipeline's request reads it again
                        request = Request(scope, receive=_replaying(fast, limited))
                    answer = await self.run(request)
            except HTTPException as error:
                answer = self._refusal(request, RequestRefused.from_http_exception(error))
            except RequestRefused as refusal:
                answer = self._refusal(request, refusal)
            finally:
                await database.close()
        if isinstance(answer, _Answer):
            await send(answer.start)
            await send(answer.body)
        else:
            await answer(scope, receive, send)

    async def _fast(self, request: Request) -> _Answer | bytes | None:
        """The fast lane's answer to a single JSON query it has vetted; else the body it read (the full pipeline
        reads it again), or None when it read nothing. Anything the pipeline would look at twice (GET, a batch, a
        stream, persisted query hashes, a malformed body) goes there untouched.

        The answer is the two ASGI messages Strawberry's response would send (`create_response`, the same
        headers in the same order), built without the Response objects: on a compiled read they cost more than
        the lane's own checks (bench/results/2026-12-07-fast-lane-cpu.md)."""
        lane = self.fast_lane
        if lane is None or request.method != "POST":
            return None
        headers = request.headers
        media_type = _media_type(headers.get("content-type", ""))
        if media_type != "application/json" or self._get_stream_transport_from_headers(headers):
            return None
        body = await _body_of(request.receive)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(data, dict) or data.get("extensions") or data.get("documentId") is not None:
            return body
        query, operation_name, variables = data.get("query"), data.get("operationName"), data.get("variables")
        if not isinstance(query, str) or not isinstance(operation_name, str | None):
            return body
        if not isinstance(variables, dict | None):
            return body
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        outcome = await lane.serve(context, query, operation_name, variables)
        if isinstance(outcome, FastLaneHandover):
            request.scope[HANDOVER_SCOPE_KEY] = outcome
            return body
        if outcome is None or sub_response.background is not None:
            return body
        return self._answer(outcome, sub_response)

    def _answer(self, outcome: dict[str, Any], sub_response: Response) -> _Answer:
        """What `create_response` (below, then Strawberry's) makes of a single result, as ASGI messages."""
        self._count_statements(sub_response)
        content = self.encode_json(outcome)
        headers = [(b"content-length", str(len(content)).encode("latin-1")), (b"content-type", b"application/json")]
        headers.extend(sub_response.headers.raw)
        status = sub_response.status_code or 200
        return _Answer(
            {"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": content},
        )

    def _body_limit(self, scope: Scope) -> int:
        # The caller is known before its body is read (the bearer middleware ran): a usage pipeline's
        # `ingestUsage` batch of the documented 5,000 records must fit, other callers keep the tighter limit.
        principal: Principal | None = scope.get(PRINCIPAL_SCOPE_KEY)
        if principal is not None and Role.USAGE_INGEST in principal.roles:
            return self.settings.max_ingest_body_bytes
        return self.settings.max_body_bytes

    def _check_declared_length(self, request: Request, limit: int) -> None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit)

    def _refusal(self, request: Request, refusal: RequestRefused) -> Response:
        metrics.HTTP_REFUSALS.labels(refusal.code.value).inc()
        return refusal.response(self.encode_json(refusal.body()), {REQUEST_ID_HEADER: request_id_of(request)})

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> RequestContext:
        if isinstance(request, WebSocket):
            # The caller is not known yet: on_ws_connect sets it from `connection_init`.
            return RequestContext(
                request=request,
                response=request,
                database=self.database,
                request_id=request_id_of(request),
                max_page_size=self.settings.max_page_size,
                max_usage_rows=self.settings.max_usage_rows,
                change_feed=self.change_feed,
                end_connection=functools.partial(_close_forbidden, request),
            )
        assert isinstance(request, Request) and isinstance(response, Response)
        request_id = request_id_of(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        return RequestContext(
            request=request,
            response=response,
            database=request.scope.get(REQUEST_DATABASE_SCOPE_KEY) or self.database,
            request_id=request_id,
            principal=request.scope.get(PRINCIPAL_SCOPE_KEY),
            rate_limiter=self.rate_limiter,
            invitation_code_limiter=self.invitation_code_limiter,
            max_page_size=self.settings.max_page_size,
            max_usage_rows=self.settings.max_usage_rows,
            claim_decline_window_days=self.settings.claim_decline_window_days,
            webhook_allow_private_addresses=self.settings.webhook_allow_private_addresses,
            handover=request.scope.get(HANDOVER_SCOPE_KEY),
        )

    async def on_ws_connect(self, context: RequestContext) -> UnsetType | dict[str, object] | None:
        """graphql-transport-ws `connection_init`: its payload's `authorization` ("Bearer ...", as the HTTP header;
        or the handshake's own header) validated exactly as a request's token (RFC 6750, auth.authenticator), or
        the socket closes with 4403. The socket closes with 4403 again when the token expires."""
        websocket = context.request
        assert isinstance(websocket, WebSocket)
        given = (context.connection_params or {}).get("authorization")
        authorization = [given] if isinstance(given, str) else websocket.headers.getlist("authorization")
        if self.authenticator is None:
            raise ConnectionRejectionError()
        try:
            principal, valid_until = await self.authenticator.authenticate_until(authorization)
        except OAuth2Error as error:
            logger.info("refused websocket %s: %s", websocket.url.path, error.error or "no credentials")
            raise ConnectionRejectionError() from None
        context.principal = principal
        if self.websocket_count is not None:
            await hold_place(context, self.websocket_count)  # TooManyWebsockets: closed with 4429 by the handler
        delay = max(0.0, valid_until - time.time())
        websocket.scope[EXPIRY_SCOPE_KEY] = asyncio.get_running_loop().call_later(delay, self._expire, websocket)
        return cast("UnsetType", UNSET)

    def _expire(self, websocket: WebSocket) -> None:
        task = asyncio.ensure_future(_close_expired(websocket))
        self._expiring.add(task)  # kept referenced until done (the loop holds tasks weakly)
        task.add_done_callback(self._expiring.discard)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        if self.graphql_ide is not None:
            # The bearer middleware passes a visit without a token by this same rule (gateway/graphiql.py).
            return graphiql.is_visit(request.method, request.headers.get("accept", ""), request.query_params)
        # Production: Strawberry's rule (answered 404 below). A GET carrying only a persisted query hash or a
        # trusted document id has no `query` either; it is an operation, not a visit.
        params = request.query_params
        return super().should_render_graphql_ide(request) and "extensions" not in params and "documentId" not in params

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page(request.scope.get("root_path", ""))

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        transport = self._get_stream_transport_from_headers(request.headers)
        protocol: GraphQLRequestProtocol = transport.protocol if transport else "http"
        if request.method == "GET":
            data: object = self.parse_query_params(request.query_params)
        else:
            if _media_type(request.content_type or "") != "application/json":
                raise RequestRefused(415, Code.UNSUPPORTED_MEDIA_TYPE, "POST bodies must be application/json.")
            data = self.parse_json(await request.get_body())
        if isinstance(data, list):
            self._validate_batch_request(data, protocol=protocol)
            return [operation_request(item, protocol) for item in data]
        return operation_request(data, protocol)

    def decode_json(self, data: str | bytes) -> object:
        # orjson: faster, and it refuses invalid UTF-8 with a JSONDecodeError (the stdlib raises
        # UnicodeDecodeError, which Strawberry would not turn into a 400).
        return orjson.loads(data)

    def _validate_batch_request(self, request_data: list[GraphQLRequestData], protocol: GraphQLRequestProtocol) -> None:
        # Replaces Strawberry's check, which reads the schema's config: batching is a setting of this gateway.
        if not self.settings.batching:
            raise RequestRefused(400, Code.BATCHING_DISABLED, "Batched requests are not accepted.")
        limit = self.settings.max_batch_operations
        if not request_data or len(request_data) > limit:
            raise RequestRefused(
                400,
                Code.TOO_MANY_OPERATIONS,
                f"A batch holds 1 to {limit} operations (got {len(request_data)}).",
                limit={"name": "maxBatchOperations", "value": limit, "actual": len(request_data)},
            )
        if transport := self._get_stream_transport(protocol):
            raise RequestRefused(400, Code.BAD_REQUEST, transport.batching_error)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: RequestContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            result = await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as error:
            if isinstance(error.__cause__, InvalidOperationTypeError) and request_adapter.method == "GET":
                raise RequestRefused(
                    405, Code.METHOD_NOT_ALLOWED, "Only queries may be sent with GET; use POST."
                ) from error
            raise
        lane = self.fast_lane
        served_compiled = not result.errors and context.execution_path == "compiled"
        if lane is not None and served_compiled and request_data.query is not None and not request_data.extensions:
            lane.vet(request_data.query, request_data.operation_name)
        return result

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        partly_refused = isinstance(response_data, list) and not all(map(_is_rate_limited, response_data))
        if sub_response.status_code == 429 and partly_refused:
            sub_response.status_code = 200
        self._count_statements(sub_response)
        return super().create_response(response_data, sub_response)

    def _count_statements(self, sub_response: Response) -> None:
        count = statement_counter.current()
        if count is not None and not self.settings.is_production:
            sub_response.headers[STATEMENTS_HEADER] = str(count.statements)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if self.settings.is_production and response.get("errors"):
            # The schema's masking extension sees operation results; an error raised inside an extension
            # reaches the response without passing it. This is the last gate: nothing uncoded leaves.
            request_id = request_id_of(request)
            response["errors"] = [_masked(error, request_id) for error in response["errors"] or []]
        return response

    def encode_json(self, data: Any) -> bytes:
        # orjson: several times faster than the stdlib encoder on result-sized payloads.
        return orjson.dumps(data)


@dataclass(frozen=True, slots=True)
class _Answer:
    """The fast lane's response: the `http.response.start` and `http.response.body` messages."""

    start: Message
    body: Message


async def _body_of(receive: Receive) -> bytes:
    """The request body, read as Starlette's `Request.body()` reads it (a disconnect first is ClientDisconnect),
    without its stream generator: most bodies come in one message."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for a request whose body was read already: that body once, then whatever `receive` says."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _close_expired(websocket: WebSocket) -> None:
    await _close_forbidden(websocket, "Token expired")


async def _close_forbidden(websocket: WebSocket, reason: str) -> None:
    logger.info("closing websocket %s: %s", websocket.url.path, reason)
    with suppress(RuntimeError, OSError):  # already closing: nothing left to end
        await websocket.close(code=CLOSE_FORBIDDEN, reason=reason)


def _masked(error: Any, request_id: str) -> Any:
    code = (error.get("extensions") or {}).get("code")
    if code is not None and code != Code.INTERNAL.value:
        return error
    extensions = {"code": Code.INTERNAL.value, "requestId": request_id}
    return {
        **{k: v for k, v in error.items() if k in ("locations", "path")},
        "message": MASKED_MESSAGE,
        "extensions": extensions,
    }


def _is_rate_limited(entry: GraphQLHTTPResponse) -> bool:
    errors: list[Any] = list(entry.get("errors") or [])
    return any((error.get("extensions") or {}).get("code") == Code.RATE_LIMITED.value for error in errors)
