"""The Starlette application factory: routes, lifespan, and the pieces each request passes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from auth.authenticator import Authenticator
from auth.middleware import BearerTokenMiddleware
from db.engine import Database
from gateway.graphql_view import GraphQLView
from gateway.health import healthz, readiness_endpoint
from gateway.settings import Settings, load_settings
from schema.root import build_schema


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    authenticator: Authenticator | None = None,
) -> Starlette:
    settings = settings or load_settings()
    # Before anything else: a gateway that cannot validate tokens must not start (SettingsError, one line).
    authenticator = authenticator or Authenticator.from_settings(settings)
    owns_database = database is None
    database = database or Database.from_url(
        settings.database_url, pool_size=settings.db_pool_size, echo=settings.db_echo
    )
    graphql = GraphQLView(build_schema(settings), database=database, settings=settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await authenticator.aclose()
        if owns_database:
            await database.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readiness_endpoint(database), methods=["GET"]),
        ],
        middleware=[
            Middleware(BearerTokenMiddleware, authenticator=authenticator, serve_ide_page=not settings.is_production),
        ],
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator
    app.state.settings = settings
    app.state.database = database
    return app
