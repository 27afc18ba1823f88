"""The GraphQL entrance (gateway/graphql_entrance.py) answers a POST to /graphql exactly as the middleware stack
behind it would: each request is sent through the application (the entrance in front) and through the stack alone,
and both answers must have the same status, the same headers in the same order, and the same body. On PostgreSQL
the repeats of a compiled read are the fast lane's, so its answer is held to the stack's too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from auth.principal import Role
from db.engine import Database
from gateway.app import create_app
from gateway.graphql_entrance import GraphQLEntrance
from gateway.graphql_view import GraphQLView
from gateway.seed.demo import DEMO_OWNER_TENANT_EXTERNAL_ID, load_demo
from schema.fast_lane import FastLane
from tests.api import principal, settings_for, token_for
from tests.resilience_support import world_ids

NODE = "query Node($id: ID!) { node(id: $id) { id ... on Subscription { displayName status } } }"
OWNER = principal(Role.OWNER, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID)
Seen = tuple[int, list[tuple[bytes, bytes]], bytes]


@dataclass
class Doors:
    """One application, entered through its entrance (`app`) and through its middleware stack alone (`stack`)."""

    app: httpx.AsyncClient
    stack: httpx.AsyncClient
    token: str
    max_body_bytes: int

    async def both(self, **request: Any) -> tuple[Seen, Seen]:
        return _seen(await self.app.post("/graphql", **request)), _seen(await self.stack.post("/graphql", **request))


def _seen(response: httpx.Response) -> Seen:
    return response.status_code, list(response.headers.raw), response.content


@asynccontextmanager
async def doors(database: Database, tmp_path: Any) -> AsyncIterator[Doors]:
    # Without rate limits: each door's request would find the bucket a point lower (tests/compiled/test_fast_lane.py
    # holds the lane to the pipeline on charges, through the entrance).
    settings = settings_for(
        database_url=database.engine.url.render_as_string(hide_password=False),
        var_dir=tmp_path / "var",
        rate_limit_enabled=False,
    )
    app = create_app(settings, database)
    entrance = app.build_middleware_stack()
    assert isinstance(entrance, GraphQLEntrance)

    async def stack_alone(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app  # what Starlette's own __call__ sets before its stack
        await entrance.stack(scope, receive, send)

    base = "http://gateway.test"
    # A server error is answered (500) and raised again: the transport is told to keep the answer.
    through_app = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    through_stack = httpx.ASGITransport(app=stack_alone, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=through_app, base_url=base) as via_app,
        httpx.AsyncClient(transport=through_stack, base_url=base) as via_stack,
    ):
        yield Doors(via_app, via_stack, token_for(settings, OWNER), settings.max_body_bytes)


def _json(document: object, token: str | None, **headers: str) -> dict[str, Any]:
    sent = {"content-type": "application/json", "x-request-id": "entrance-test", **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    return {"content": orjson.dumps(document), "headers": sent}


async def test_every_kind_of_post_gets_the_stacks_answer(
    database: Database, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await load_demo(database)
    subscription = (await world_ids(database)).by_type["Subscription"][0]
    served: list[bool] = []
    serve = FastLane.serve

    async def watched(self: FastLane, *args: Any) -> Any:
        outcome = await serve(self, *args)
        served.append(isinstance(outcome, dict))
        return outcome

    monkeypatch.setattr(FastLane, "serve", watched)
    read = {"query": NODE, "variables": {"id": subscription}}
    async with doors(database, tmp_path) as door:
        too_large = b" " * (door.max_body_bytes + 1)
        requests: dict[str, dict[str, Any]] = {
            "read": _json(read, door.token),
            "read again": _json(read, door.token),
            "read without a request id": {
                **_json(read, door.token),
                "headers": {"authorization": f"Bearer {door.token}"},
            },
            "no token": _json(read, None),
            "a forged token": _json(read, "not-a-token"),
            "a body over the limit": {"content": too_large, "headers": _json(read, door.token)["headers"]},
            "not JSON": {"content": b"{", "headers": _json(read, door.token)["headers"]},
            "a form": {**_json(read, door.token, **{"content-type": "application/x-www-form-urlencoded"})},
            "a batch": _json([read, read], door.token),
            "an unknown variable type": _json({"query": NODE, "variables": {"id": 7}}, door.token),
            "a browser's, with its Origin": _json(read, door.token, origin="https://elsewhere.example"),
            "a stream's": _json(read, door.token, accept="text/event-stream"),
        }
        # Once before: the first request resolves the caller's ids (a statement more) and, on PostgreSQL, vets the
        # document, so that every read below is the lane's there.
        await door.app.post("/graphql", **requests["read"])
        for name, request in requests.items():
            ours, theirs = await door.both(**request)
            if name == "read without a request id":  # each door mints its own
                ours, theirs = _without_request_id(ours), _without_request_id(theirs)
            assert ours == theirs, name
            assert (b"vary", b"Origin") in ours[1], name
    if database.dialect == "postgresql":
        assert served.count(True) >= 4  # the entrance's and the stack's repeats alike
    else:
        assert True not in served  # nothing compiles on SQLite: the lane answers nothing


async def test_a_server_error_is_the_stacks_500(
    database: Database, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: GraphQLView, *args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(GraphQLView, "run", broken)
    async with doors(database, tmp_path) as door:
        ours, theirs = await door.both(**_json({"query": "{ __typename }"}, door.token))
    assert ours == theirs
    assert ours[0] == 500 and ours[2] == b"Internal Server Error"


def _without_request_id(seen: Seen) -> Seen:
    status, headers, body = seen
    return status, [(name, value) for name, value in headers if name != b"x-request-id"], body
