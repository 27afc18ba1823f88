"""Calling the gateway over HTTP (ASGI, in process) as a given caller."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import event
from starlette.types import ASGIApp, Receive, Scope, Send

from auth.principal import Principal, Role
from db.engine import Database
from gateway.app import create_app
from gateway.settings import load_settings


def principal(
    *roles: Role, tenant: uuid.UUID | None = None, partner: str | None = None, subject: str | None = None
) -> Principal:
    return Principal(
        subject=subject or f"subject-{'-'.join(role.value.lower() for role in roles) or 'none'}",
        client_id="test-client",
        scopes=frozenset(f"scope.{role.value.lower()}" for role in roles),
        roles=frozenset(roles),
        tenant_external_id=tenant,
        partner_mpn_id=partner,
    )


class _AsCaller:
    """Puts the caller where the bearer middleware would after validating a token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            caller = _CALLERS.get(dict(scope["headers"]).get(b"x-test-caller", b"").decode())
            if caller is not None:
                scope["dpor.principal"] = caller
        await self.app(scope, receive, send)


_CALLERS: dict[str, Principal] = {}


@dataclass
class StatementCounter:
    count: int = 0
    statements: list[str] = field(default_factory=list)

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Transaction control (SQLite's explicit BEGIN) is not a query; count what reads or writes data.
        if statement.lstrip().split(None, 1)[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}:
            self.count += 1
            self.statements.append(statement)


@dataclass
class Api:
    client: httpx.AsyncClient
    database: Database

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: Principal | None
    ) -> dict[str, Any]:
        headers = {}
        if as_ is not None:
            key = uuid.uuid4().hex
            _CALLERS[key] = as_
            headers["x-test-caller"] = key
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, *, as_: Principal) -> dict[str, Any]:
        """The result's data, asserting there were no errors."""
        body = await self.execute(query, variables, as_=as_)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result

    @asynccontextmanager
    async def counting(self) -> AsyncIterator[StatementCounter]:
        counter = StatementCounter()
        event.listen(self.database.engine.sync_engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            event.remove(self.database.engine.sync_engine, "before_cursor_execute", counter)


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


@asynccontextmanager
async def api_for(database: Database) -> AsyncIterator[Api]:
    settings = load_settings(database_url=str(database.engine.url.render_as_string(hide_password=False)))
    app = _AsCaller(create_app(settings, database))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield Api(client, database)
