"""The Starlette application factory: routes, lifespan, and the pieces each request passes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from db.engine import Database
from gateway.graphql_view import GraphQLView
from gateway.health import healthz, readiness_endpoint
from gateway.settings import Settings, load_settings
from schema.root import build_schema


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    settings = settings or load_settings()
    owns_database = database is None
    database = database or Database.from_url(
        settings.database_url, pool_size=settings.db_pool_size, echo=settings.db_echo
    )
    graphql = GraphQLView(build_schema(settings), database=database, settings=settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if owns_database:
            await database.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readiness_endpoint(database), methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    return app
