"""graphql-transport-ws as this gateway speaks it: Strawberry's handler, with the limits of a connection.

- Unauthenticated: a `connection_init` must come within DPOR_SUBSCRIPTION_INIT_TIMEOUT_SECONDS of the upgrade, or
  the socket closes with 4408 (Strawberry's, the protocol's code); a refused token closes it with 4403.
- Per caller: at most DPOR_MAX_WEBSOCKETS_PER_CALLER open connections once its token is known
  (gateway/websocket_limits.py; across processes with Redis); one more is closed with 4429, the protocol's code
  for a client that asks too much of the connection (the graphql-ws client does not retry it).
- Redis configured but unreachable: the count cannot be kept, so a new connection is refused (fail closed, as an
  HTTP request is refused by the rate limiter then) with 1013 "Try Again Later" (RFC 6455's registry): the
  graphql-ws client retries 1013 with its backoff, while it gives up on 4500. Open connections keep their streams
  (the change feed needs only the database) and the leases they could not renew are logged.
- Idle: a connection with no subscription running for DPOR_WEBSOCKET_IDLE_TIMEOUT_SECONDS (from its start or its
  last subscription's end) is closed with 4408 "Idle timeout": it holds a socket, a worker's memory and a place of
  its caller's for nothing. A client with subscriptions is never idle, however quiet its streams.
- Per connection: DPOR_MAX_SUBSCRIPTIONS_PER_CONNECTION (Strawberry's own check: one more is an `error`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import TYPE_CHECKING

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage

from resolvers.context import RequestContext
from schema.extensions.rate_limit import bucket_key

if TYPE_CHECKING:
    from gateway.websocket_limits import WebsocketCount

logger = logging.getLogger(__name__)

CLOSE_TOO_MANY = 4429
CLOSE_IDLE = 4408
CLOSE_TRY_AGAIN_LATER = 1013
UNAVAILABLE_REASON = "Try again later: connection limits unavailable"


class TooManyWebsockets(Exception):
    """The caller holds DPOR_MAX_WEBSOCKETS_PER_CALLER connections already (raised by the view's on_ws_connect)."""


class LimitsUnavailable(Exception):
    """The shared count (Redis) did not answer: the connection is refused rather than let through uncounted."""


DEFAULT_IDLE_SECONDS = 300.0


class GatewayTransportWSHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    def on_request_accepted(self) -> None:
        super().on_request_accepted()
        self._busy_at = time.monotonic()
        # The view's setting (GraphQLView.websocket_idle_timeout_seconds).
        idle = getattr(self.view, "websocket_idle_timeout_seconds", DEFAULT_IDLE_SECONDS)
        self._idle_task: asyncio.Task[None] | None = asyncio.create_task(self._close_when_idle(float(idle)))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManyWebsockets as refused:
            logger.info("refused websocket: %s", refused)
            await self.websocket.close(code=CLOSE_TOO_MANY, reason="Too many connections for this caller")
        except LimitsUnavailable as error:
            logger.error("refused websocket: the connection count is unavailable: %s", error)
            await self.websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason=UNAVAILABLE_REASON)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        await super().handle_subscribe(message)
        self._busy_at = time.monotonic()

    async def cleanup_operation(self, operation_id: str) -> None:
        await super().cleanup_operation(operation_id)
        self._busy_at = time.monotonic()

    def forget_id(self, id: str) -> None:
        super().forget_id(id)
        self._busy_at = time.monotonic()

    async def _close_when_idle(self, idle: float) -> None:
        while True:
            if self.operations:
                await asyncio.sleep(idle)
                continue
            remaining = self._busy_at + idle - time.monotonic()
            if remaining > 0:
                await asyncio.sleep(remaining)
                continue
            if self.operations:
                continue
            logger.info("closing websocket: no subscription for %s s", idle)
            with suppress(RuntimeError, OSError):
                await self.websocket.close(code=CLOSE_IDLE, reason="Idle timeout: no subscription")
            return

    async def shutdown(self) -> None:
        # The connection is over: its place goes back first, before its operations are cancelled and awaited, so a
        # client that closes and at once opens another is not refused for the one it just closed.
        try:
            await release(self.context)
        finally:
            task, self._idle_task = getattr(self, "_idle_task", None), None
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await super().shutdown()


def caller_of(context: RequestContext) -> str:
    return bucket_key(context)


async def hold_place(context: RequestContext, count: WebsocketCount) -> None:
    """Take the caller's place among its open connections (TooManyWebsockets when it holds them all)."""
    caller = caller_of(context)
    try:
        place = await count.open(caller)
    except Exception as error:
        raise LimitsUnavailable(str(error)) from error
    if place is None:
        # The caller's key (its token subject) stays out of the log line.
        raise TooManyWebsockets(f"the caller holds {count.limit} connections already")
    context.websocket_place = (count, caller, place)


async def release(context: RequestContext) -> None:
    """Give the caller's place back (the connection ended, however)."""
    held, context.websocket_place = context.websocket_place, None
    if held is not None:
        count, caller, place = held
        await count.close(caller, place)
