"""Query abuse, over HTTP: every case is refused with its code, quickly, before any SQL runs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from db import statement_counter
from db.engine import Database
from tests.hardening_support import client_for, codes, settings_for, sqlite_database

# A bound against hangs and exponential work, not a speed target (those live in bench/): refusals take
# milliseconds, but CI shares two cores with other work (a 1 s bound failed once at load average 7).
TIME_BOUND_SECONDS = 10.0


def nested(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"children(first: 1) {{ edges {{ node {{ {inner} }} }} }}"
    return f"{{ items(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"


def fragment_chain(levels: int, selection: str = "hello") -> str:
    """F0 spreads F1 twice, F1 spreads F2 twice...: 2**levels paths if each spread were walked separately."""
    fragments = [f"fragment F{n} on Query {{ {selection} ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ {selection} }}")
    return "query { ...F0 } " + " ".join(fragments)


@dataclass(frozen=True)
class Abuse:
    name: str
    send: Callable[[httpx.AsyncClient], Any]
    status: int
    code: str


def post(payload: Any) -> Callable[[httpx.AsyncClient], Any]:
    return lambda client: client.post("/graphql", json=payload)


def post_raw(body: bytes, content_type: str = "application/json") -> Callable[[httpx.AsyncClient], Any]:
    return lambda client: client.post("/graphql", content=body, headers={"content-type": content_type})


def query(text: str, variables: dict[str, Any] | None = None) -> Callable[[httpx.AsyncClient], Any]:
    return post({"query": text, "variables": variables})


async def chunks(total: int, size: int = 65_536) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * size
        sent += size


TEN_MB = 10 * 1024 * 1024

ABUSES = [
    Abuse("deep nesting", query(nested(8)), 200, "QUERY_TOO_DEEP"),
    # graphql-core's parser refuses this nesting itself, before our depth rule sees a document.
    Abuse(
        "600 levels of nesting",
        query("{ " + "items { " * 600 + "id" + " }" * 600 + " }"),
        200,
        "GRAPHQL_PARSE_FAILED",
    ),
    Abuse("60 levels of nesting", query("{ " + "items { " * 60 + "id" + " }" * 60 + " }"), 200, "QUERY_TOO_DEEP"),
    Abuse(
        "aliases multiplied by repeated fragments",
        query(fragment_chain(40, "a: hello")),
        200,
        "TOO_MANY_ALIASES",
    ),
    Abuse(
        "alias overloading",
        query("{ " + " ".join(f"a{n}: hello" for n in range(31)) + " }"),
        200,
        "TOO_MANY_ALIASES",
    ),
    Abuse(
        "fragment cycle",
        query("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    Abuse(
        "circular fragment through fields",
        query(
            "{ items(first: 1) { edges { node { ...F } } } } "
            "fragment F on Item { children(first: 1) { edges { node { ...F } } } }"
        ),
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    Abuse("huge first", query("{ items(first: 1000000) { totalCount } }"), 200, "BAD_USER_INPUT"),
    Abuse(
        "huge first in a variable",
        query("query($n: Int) { items(first: $n) { totalCount } }", {"n": 101}),
        200,
        "BAD_USER_INPUT",
    ),
    Abuse("zero first", query("{ items(first: 0) { totalCount } }"), 200, "BAD_USER_INPUT"),
    Abuse("negative first", query("{ items(first: -5) { totalCount } }"), 200, "BAD_USER_INPUT"),
    Abuse(
        "nested connections over the cost limit",
        query(
            "{ items(first: 100) { edges { node { children(first: 100) { edges { node {"
            " children(first: 100) { totalCount } } } } } } } }"
        ),
        200,
        "COST_LIMIT_EXCEEDED",
    ),
    Abuse(
        "nodes(ids:) flood in a variable",
        query("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [str(n) for n in range(60_000)]}),
        200,
        "COST_LIMIT_EXCEEDED",
    ),
    Abuse(
        "directive overloading",
        query("{ hello" + " @include(if: true)" * 50 + " }"),
        200,
        "TOO_MANY_DIRECTIVES",
    ),
    Abuse(
        "root field flood",
        query("{ " + " ".join(f"r{n}: secretField" for n in range(11)) + " }"),
        200,
        "TOO_MANY_ROOT_FIELDS",
    ),
    Abuse("token flood", query("{ " + "hello " * 3_000 + "}"), 200, "TOO_MANY_TOKENS"),
    Abuse("syntax error", query("{ hello "), 200, "GRAPHQL_PARSE_FAILED"),
    Abuse("unknown field", query("{ helo }"), 200, "GRAPHQL_VALIDATION_FAILED"),
    Abuse(
        "variable of the wrong type",
        query("query($n: Int) { items(first: $n) { totalCount } }", {"n": "x"}),
        200,
        "BAD_USER_INPUT",
    ),
    Abuse("batch while batching is off", post([{"query": "{ hello }"}] * 2), 400, "BATCHING_DISABLED"),
    Abuse("10 MB body with Content-Length", post_raw(b" " * TEN_MB), 413, "REQUEST_TOO_LARGE"),
    Abuse(
        "10 MB body streamed without Content-Length",
        lambda client: client.post("/graphql", content=chunks(TEN_MB), headers={"content-type": "application/json"}),
        413,
        "REQUEST_TOO_LARGE",
    ),
    Abuse("invalid UTF-8", post_raw(b'{"query": "{ hello \xff\xfe }"}'), 400, "BAD_REQUEST"),
    Abuse("non-JSON body", post_raw(b"query { hello }"), 400, "BAD_REQUEST"),
    Abuse("JSON nested 100k deep", post_raw(b"[" * 100_000 + b"]" * 100_000), 400, "BAD_REQUEST"),
    Abuse("wrong content type", post_raw(b'{"query": "{ hello }"}', "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    Abuse(
        "form-encoded body",
        post_raw(b"query=%7B+hello+%7D", "application/x-www-form-urlencoded"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    Abuse(
        "mutation over GET",
        lambda client: client.get("/graphql", params={"query": "mutation { touch }"}),
        405,
        "METHOD_NOT_ALLOWED",
    ),
    Abuse("no query at all", post({"variables": {}}), 400, "BAD_REQUEST"),
    *[
        Abuse(f"JSON body {body.decode()}", post_raw(body), 400, "BAD_REQUEST")
        for body in (b"null", b"123", b'"s"', b"true", b"1.5")
    ],
    *[
        Abuse(f"{name} {value!r}", post({"query": "{ hello }", name: value}), 400, "BAD_REQUEST")
        for name, value in (
            ("operationName", 123),
            ("operationName", True),
            ("operationName", ["x"]),
            ("operationName", {"x": 1}),
            ("variables", [1]),
            ("variables", "x"),
            ("extensions", 1),
            ("extensions", ["x"]),
            ("documentId", 1),
        )
    ],
    Abuse("query 123", post({"query": 123}), 400, "BAD_REQUEST"),
    Abuse("query in a list", post({"query": ["{ hello }"]}), 400, "BAD_REQUEST"),
    Abuse(
        "GET with variables that are not an object",
        lambda client: client.get("/graphql", params={"query": "{ hello }", "variables": "[1]"}),
        400,
        "BAD_REQUEST",
    ),
]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    # These tests exercise the HTTP and validation layers; one SQLite file is enough to count statements.
    db = sqlite_database(tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings_for(), database) as client:
        yield client


async def test_a_valid_query_runs_sql_and_reports_its_cost(client: httpx.AsyncClient) -> None:
    """The control: the same client and counter see statements when execution happens."""
    with statement_counter.counting() as count:
        response = await client.post("/graphql", json={"query": "{ items(first: 3) { totalCount } hello }"})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"items": {"totalCount": 3}, "hello": "world"}
    assert body["extensions"]["cost"]["requested"] == 4
    assert count.statements == 2
    assert response.headers["x-dpor-sql-statements"] == "2"


@pytest.mark.parametrize("abuse", ABUSES, ids=[abuse.name for abuse in ABUSES])
async def test_abuse_is_refused_quickly_without_sql(client: httpx.AsyncClient, abuse: Abuse) -> None:
    started = time.perf_counter()
    with statement_counter.counting() as count:
        response = await abuse.send(client)
    elapsed = time.perf_counter() - started
    assert response.status_code == abuse.status, response.text
    body = response.json()
    assert abuse.code in codes(body), body
    assert body.get("data") is None
    assert count.statements == 0
    assert elapsed < TIME_BOUND_SECONDS


async def test_limit_errors_name_the_limit_and_its_value(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": nested(8)})
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "limit": {"name": "maxDepth", "value": 12}}
    response = await client.post("/graphql", json={"query": "{ items(first: 101) { totalCount } }"})
    [error] = response.json()["errors"]
    assert error["extensions"]["limit"] == {"name": "maxPageSize", "value": 100, "actual": 101}
    assert (error["extensions"]["field"], error["extensions"]["maximum"]) == ("first", 100)


async def test_depth_at_the_limit_runs(client: httpx.AsyncClient) -> None:
    # items > edges > node > (children > edges > node) * 3 > id: depth 12, the default maximum.
    response = await client.post("/graphql", json={"query": nested(3)})
    assert response.status_code == 200
    assert "errors" not in response.json()


async def test_repeated_fragments_do_not_explode(client: httpx.AsyncClient) -> None:
    """100 levels of doubled spreads: 2**100 paths if walked naively (as Strawberry's depth and alias limiters
    do); the limits, the cost walk and execution each visit every fragment once."""
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": fragment_chain(100)})
    assert time.perf_counter() - started < TIME_BOUND_SECONDS
    body = response.json()
    assert body["data"] == {"hello": "world"}
    assert body["extensions"]["cost"]["requested"] == 1


async def test_batches_within_the_limit_run_when_enabled(database: Database) -> None:
    async with client_for(settings_for(batching=True, max_batch_operations=3), database) as client:
        response = await client.post("/graphql", json=[{"query": "{ hello }"}] * 3)
        assert response.status_code == 200
        assert [entry["data"] for entry in response.json()] == [{"hello": "world"}] * 3
        with statement_counter.counting() as count:
            flood = await client.post("/graphql", json=[{"query": "{ hello }"}] * 4)
        assert flood.status_code == 400
        assert codes(flood.json()) == ["TOO_MANY_OPERATIONS"]
        assert flood.json()["errors"][0]["extensions"]["limit"] == {
            "name": "maxBatchOperations",
            "value": 3,
            "actual": 4,
        }
        assert count.statements == 0
        empty = await client.post("/graphql", json=[])
        assert codes(empty.json()) == ["TOO_MANY_OPERATIONS"]
        # Each entry of a batch is checked as a single request is.
        for entry in (None, 1, "s", {"query": "{ hello }", "operationName": 5}, {"query": 7}):
            mixed = await client.post("/graphql", json=[{"query": "{ hello }"}, entry])
            assert mixed.status_code == 400, mixed.text
            assert codes(mixed.json()) == ["BAD_REQUEST"]


async def test_a_refused_parameter_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ hello }", "operationName": 123})
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST", "field": "operationName"}


async def test_refusals_carry_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", content=b"nope", headers={"content-type": "text/plain"})
    assert len(response.headers["x-request-id"]) == 32
