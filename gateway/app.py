"""The Starlette application factory: routes, lifespan, and the pieces each request passes through."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp

from auth.authenticator import Authenticator
from db import statement_counter
from db.engine import Database
from gateway import graphiql, metrics, ratelimit, wiring
from gateway.background import in_background
from gateway.bearer import BearerTokenMiddleware
from gateway.deliverer import delivering
from gateway.graphql_entrance import GraphQLEntrance
from gateway.graphql_view import GraphQLView
from gateway.health import healthz, readiness_endpoint
from gateway.logging import configure_logging
from gateway.metrics import metrics_endpoint
from gateway.settings import Settings, load_settings
from gateway.sweeper import sweeping
from gateway.websocket_limits import websocket_count
from resolvers.change_feed import ChangeFeed


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    authenticator: Authenticator | None = None,
    schema: strawberry.Schema | None = None,
    *,
    freeze_heap_at_startup: bool = False,
) -> Starlette:
    """`schema` replaces the API's schema (tests of the HTTP layer use small schemas of their own).

    `freeze_heap_at_startup` (what `serve` asks for) moves everything allocated before the first request out of
    the cyclic collector's generations (`gc.freeze()`): the schema, the compiled statements and the libraries live as
    long as the process, and a full collection no longer walks them. Issue 13 measured read (1)'s cyclic GC at
    6-10 ms per request before and 1.4 ms after."""
    settings = settings or load_settings()
    # Before anything else: a gateway that cannot validate tokens must not start (SettingsError, one line).
    authenticator = authenticator or wiring.authenticator(settings)
    owns_database = database is None
    database = database or wiring.database(settings)
    configure_logging(settings)
    statement_counter.install(database.engine)
    rate_limiter = ratelimit.for_settings(settings)
    invitation_code_limiter = ratelimit.invitation_codes_for_settings(settings)
    # GraphQL subscriptions: one poller of the change events per process, fanning out to its subscribers.
    change_feed = ChangeFeed(database, settings.subscription_poll_interval_seconds)
    count = websocket_count(settings.max_websockets_per_caller, settings.redis_url)
    graphql = GraphQLView(
        schema or wiring.api_schema(settings),
        database=database,
        settings=settings,
        rate_limiter=rate_limiter,
        invitation_code_limiter=invitation_code_limiter,
        authenticator=authenticator,
        change_feed=change_feed,
        websocket_count=count,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if freeze_heap_at_startup:
            gc.collect()
            gc.freeze()
        # Whether transactions tell row-level security their caller is asked of the server now, not by a request.
        await wiring.decide_row_security(database)
        # What time makes due (expired delegated admin relationships and their admin links), in the background.
        # And webhook deliveries of the change events (resolvers/webhooks/), like the sweep in every worker.
        async with (
            sweeping(database, settings.sweep_interval_seconds, wiring.change_event_retention(settings)),
            delivering(database, wiring.delivery_config(settings), settings.webhook_delivery_interval_seconds),
            in_background(change_feed.run, "dpor-change-feed"),
            # PostgreSQL: one LISTEN connection rings this process's feed and delivery worker on every commit.
            in_background(wiring.change_listener(settings, database), "dpor-change-notifications"),
            # Read replicas' health and lag, checked by every worker (db/replicas.py).
            in_background(database.replicas.run if database.replicas else None, "dpor-replica-checks"),
        ):
            yield
        metrics.mark_this_process_dead()
        await count.aclose()
        await authenticator.aclose()
        if rate_limiter is not None:
            await rate_limiter.close()
        if invitation_code_limiter is not None:
            await invitation_code_limiter.close()
        if owns_database:
            await database.dispose()

    app = _Gateway(
        graphql,
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            # Subscriptions (graphql-transport-ws); the token comes in `connection_init` (GraphQLView.on_ws_connect).
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readiness_endpoint(database, least_privilege=settings.is_production), methods=["GET"]),
            Route("/metrics", metrics_endpoint(database), methods=["GET"]),
            # GraphiQL's scripts and styles, served here so the IDE needs no other origin (dev only, like the IDE).
            *([] if settings.is_production else [Mount(graphiql.ASSETS_PATH, graphiql.assets())]),
        ],
        middleware=[
            # Browsers may call the API only from the configured origins; no origin is allowed by default.
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["x-request-id", "retry-after"],
                max_age=600,
            ),
            Middleware(
                BearerTokenMiddleware,
                authenticator=authenticator,
                ide_page_visit=None if settings.is_production else graphiql.is_visit_scope,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator
    app.state.settings = settings
    app.state.database = database
    return app


class _Gateway(Starlette):
    """The application, with the GraphQL entrance (gateway/graphql_entrance.py) in front of its middleware stack."""

    def __init__(self, graphql: GraphQLView, **options: Any) -> None:
        self._graphql = graphql
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        return GraphQLEntrance(super().build_middleware_stack(), view=self._graphql)


def create_served_app() -> Starlette:
    """The application as `serve` runs it in each worker process (uvicorn's factory)."""
    return create_app(freeze_heap_at_startup=True)
