"""Calling the gateway over HTTP (ASGI, in process) as a given caller."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from auth.dev_keys import mint_dev_token
from auth.principal import Principal, Role
from db.engine import Database
from gateway.app import create_app
from gateway.settings import ENV_PREFIX, Settings, load_settings
from gateway.wiring import auth_config


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


def combined(*callers: Principal, subject: str | None = None) -> Principal:
    """One token holding every role of `callers` (a multi-role token), with the first tenant and partner named."""
    tenants = [c.tenant_external_id for c in callers if c.tenant_external_id is not None]
    partners = [c.partner_mpn_id for c in callers if c.partner_mpn_id is not None]
    roles = frozenset().union(*(c.roles for c in callers))
    return principal(
        *sorted(roles, key=lambda role: role.value),
        tenant=tenants[0] if tenants else None,
        partner=partners[0] if partners else None,
        subject=subject or "subject-" + "+".join(sorted(role.value.lower() for role in roles)),
    )


@dataclass
class StatementCounter:
    count: int = 0
    statements: list[str] = field(default_factory=list)

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Transaction control (SQLite's explicit BEGIN) is not a query; count what reads or writes data.
        if statement.lstrip().split(None, 1)[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}:
            self.count += 1
            self.statements.append(statement)


def token_for(settings: Settings, caller: Principal) -> str:
    """A real access token, signed with the dev key the gateway trusts in dev, carrying the caller's claims."""
    return mint_dev_token(
        auth_config(settings),
        roles=caller.roles,
        tenant=caller.tenant_external_id,
        partner=caller.partner_mpn_id,
        subject=caller.subject,
        client_id=caller.client_id or "test-client",
    )


@dataclass
class Api:
    client: httpx.AsyncClient
    database: Database
    settings: Settings

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: Principal | None
    ) -> dict[str, Any]:
        """POST the operation with a bearer token for the caller (none for `as_=None`); the JSON answer.

        Refusals by the bearer middleware (401, 403) carry a GraphQL-shaped body with the error code too."""
        headers = {"authorization": f"Bearer {token_for(self.settings, as_)}"} if as_ is not None else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code in (200, 401, 403), response.text
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


# One dev signing key for the whole test run, outside the work tree's var/.
_VAR_DIR = Path(tempfile.mkdtemp(prefix="dpor-test-var-"))


_SETTINGS: dict[Hashable, Settings] = {}


def settings_for(**values: object) -> Settings:
    """`load_settings(**values)`, remembered: reading them (the environment, a .env file, pydantic's validation)
    costs ~11 ms, and the suite builds thousands of apps from a handful of distinct settings. Settings are frozen,
    and what else they are read from (the DPOR_ variables, the working directory's .env) is part of the key, so a
    test that changes either gets settings of its own. Unhashable values are read afresh every time."""
    env_file = Path(".env")
    try:
        key: Hashable = (
            tuple(sorted(values.items())),
            tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith(ENV_PREFIX))),
            os.getcwd(),
            env_file.read_bytes() if env_file.is_file() else None,
        )
        hash(key)
    except TypeError:
        return load_settings(**values)
    if key not in _SETTINGS:
        _SETTINGS[key] = load_settings(**values)
    return _SETTINGS[key]


@asynccontextmanager
async def api_for(database: Database, **overrides: object) -> AsyncIterator[Api]:
    """The gateway over `database`, with settings `overrides` (e.g. `max_usage_rows=2`)."""
    settings = settings_for(
        database_url=database.engine.url.render_as_string(hide_password=False), var_dir=_VAR_DIR, **overrides
    )
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield Api(client, database, settings)
