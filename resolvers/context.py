"""The per-request context every resolver receives."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from resolvers.pagination import MAX_PAGE_SIZE

if TYPE_CHECKING:
    from auth.principal import Principal
    from auth.row_filters import Shape
    from auth.scope import CallerScope
    from db.engine import Database
    from resolvers.change_feed import ChangeFeed
    from resolvers.loaders import Loaders
    from resolvers.rate_limiter import Decision, RateLimiter
    from resolvers.usage.loaders import UsageLoaders

# The default of DPOR_MAX_USAGE_ROWS. The bound in force is the setting's: the view puts it in the context.
MAX_USAGE_ROWS = 10_000


@dataclass
class RequestContext:
    request: Request | WebSocket
    response: Response | WebSocket
    database: Database
    request_id: str
    principal: Principal | None = None
    # The application's rate limiter (None: rate limiting is off), for the rate-limit extension.
    rate_limiter: RateLimiter | None = None
    # Failed DPOR invitation code lookups per caller (resolvers/invitations/codes.py; None: rate limiting is off).
    invitation_code_limiter: RateLimiter | None = None
    # DPOR_MAX_PAGE_SIZE: the bound every connection's `first` is checked against (and the cost check assumes).
    max_page_size: int = MAX_PAGE_SIZE
    # DPOR_MAX_USAGE_ROWS: the most rows a usage aggregate field returns (the cost check refuses most before SQL).
    max_usage_rows: int = MAX_USAGE_ROWS
    # DPOR_CLAIM_DECLINE_WINDOW_DAYS: how long an owner may decline a claim made in this request.
    claim_decline_window_days: int = 30
    # DPOR_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: webhook URLs may name loopback and private hosts (dev and tests only).
    webhook_allow_private_addresses: bool = False
    # Which path answered a query: "interpreted" (the resolvers) or "compiled" (resolvers/compiled/). Logged only.
    execution_path: str = "interpreted"
    # Per-request state, created on first use and dropped with the request. The caller's scope is a task, so that
    # concurrent top-level fields await one resolution (resolvers/caller.py); the DataLoaders are bound to it.
    scope_task: asyncio.Task[CallerScope] | None = None
    loaders: Loaders | None = None
    # The nested usage fields' loaders, one set per usage filter shape (resolvers/usage/loaders.py).
    usage_loaders: dict[Shape, UsageLoaders] = field(default_factory=dict)
    # Set when the fast lane began this request and handed it over (FastLaneHandover).
    handover: FastLaneHandover | None = None
    # Subscriptions over a websocket (gateway/graphql_view.py): the process's change feed, and what the client sent
    # in `connection_init` (Strawberry sets it; the bearer token is read from it).
    change_feed: ChangeFeed | None = None
    connection_params: dict[str, object] | None = None
    # The caller's place among its open websockets (gateway/websocket_limits.py: the count, caller, place id).
    websocket_place: tuple[Any, str, str] | None = None
    # Ends the websocket with 4403 and this reason: the caller's reach ended mid-stream (schema/change_events.py).
    end_connection: Callable[[str], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class FastLaneHandover:
    """What the fast lane (schema/fast_lane.py) already did for a request it then handed to the full pipeline:
    the rate limiter's decision on the operation's cost (so it is not charged twice), and whether the compiled
    statement ran out of time (so the pipeline answers TIMEOUT at once, as the compiled path would have)."""

    decision: Decision | None = None
    timed_out: bool = False
    # The compiled statement ran and its answer needs the interpreter: the pipeline does not run it again.
    compiled_declined: bool = False
