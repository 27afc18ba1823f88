"""Logs, metrics, statement counts and timeouts: what an operator sees of each operation."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from db import statement_counter
from db.engine import Database
from gateway.app import create_app
from gateway.logging import JsonFormatter
from tests.hardening_support import TestAuthenticator, as_caller, client_for, codes, settings_for, sqlite_database


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    db = sqlite_database(tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


async def test_each_operation_logs_one_json_line(sqlite: Database, caplog: pytest.LogCaptureFixture) -> None:
    async with client_for(settings_for(), sqlite) as client:
        with caplog.at_level(logging.INFO, logger="dpor.access"):
            response = await client.post(
                "/graphql",
                json={"query": "query Two { hello items(first: 2) { totalCount } }", "operationName": "Two"},
                headers={**as_caller("erin", "web"), "x-request-id": "req-42"},
            )
    assert response.headers["x-request-id"] == "req-42"
    [record] = [record for record in caplog.records if record.name == "dpor.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO"
    assert line["message"].startswith("graphql query Two: ok in ")
    assert line["message"].endswith(" ms, 2 SQL statements, cost 3")
    assert {key: line[key] for key in ("request_id", "subject", "client_id", "operation", "operation_type")} == {
        "request_id": "req-42",
        "subject": "erin",
        "client_id": "web",
        "operation": "Two",
        "operation_type": "query",
    }
    assert line["outcome"] == "ok"
    assert line["sql_statements"] == 2
    assert line["cost"] == 3
    assert 0 < line["duration_ms"] < 5_000


async def test_refused_operations_are_logged_with_their_code(
    sqlite: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(settings_for(), sqlite) as client:
        with caplog.at_level(logging.INFO, logger="dpor.access"):
            await client.post("/graphql", json={"query": "{ items(first: 500) { totalCount } }"})
    [record] = [record for record in caplog.records if record.name == "dpor.access"]
    assert record.__dict__["outcome"] == "BAD_USER_INPUT"
    assert record.__dict__["sql_statements"] == 0


def test_the_json_formatter_writes_exceptions_and_extras() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("dpor.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    record.__dict__["request_id"] = "r1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed here"
    assert line["request_id"] == "r1"
    assert "ValueError: bad" in line["exception"]


def sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_operations_refusals_and_pool_use(database: Database) -> None:
    """Runs on every backend: PostgreSQL reports its pool, SQLite (no pool to speak of) does not."""
    async with client_for(settings_for(rate_limit_points=15, max_cost=15), database) as client:
        before = (await client.get("/metrics")).text
        await client.post("/graphql", json={"query": "query Hello { hello }"})
        for _ in range(2):  # 1 + 10 + 10 points: the second Big is refused
            await client.post("/graphql", json={"query": "query Big { items(first: 9) { totalCount } }"})
        await client.post("/graphql", content=b"x", headers={"content-type": "text/plain"})
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    ok = 'dpor_graphql_operations_total{operation="Hello",outcome="ok"}'
    limited = 'dpor_graphql_operations_total{operation="Big",outcome="RATE_LIMITED"}'
    assert sample(after, ok) == sample(before, ok) + 1
    assert sample(after, limited) == sample(before, limited) + 1
    assert sample(after, "dpor_rate_limit_rejections_total") == sample(before, "dpor_rate_limit_rejections_total") + 1
    refusal = 'dpor_http_refusals_total{code="UNSUPPORTED_MEDIA_TYPE"}'
    assert sample(after, refusal) == sample(before, refusal) + 1
    latency = 'dpor_graphql_operation_duration_seconds_count{operation_type="query"}'
    assert sample(after, latency) == sample(before, latency) + 3
    pool = database.engine.sync_engine.pool
    assert isinstance(pool, QueuePool) == (database.dialect == "postgresql")
    if isinstance(pool, QueuePool):
        assert sample(after, 'dpor_db_pool_connections{state="size"}') == pool.size()
        assert sample(after, 'dpor_db_pool_connections{state="checked_out"}') == 0


async def test_statements_are_counted_per_request(database: Database) -> None:
    async with client_for(settings_for(), database) as client:
        query = "{ a: items(first: 1) { totalCount } b: items(first: 1) { totalCount } hello }"
        response = await client.post("/graphql", json={"query": query})
        assert response.headers["x-dpor-sql-statements"] == "3"
        production = settings_for(env="production")
    async with client_for(production, database) as client:
        response = await client.post("/graphql", json={"query": "{ hello }"})
        assert "x-dpor-sql-statements" not in response.headers


# The sleeps below last 20-30 s: finishing within 10 s proves the cancellation without racing CI's load.
CANCELLED_WELL_BEFORE_THE_SLEEP = 10.0


async def test_the_execution_deadline_cancels_and_answers_timeout(sqlite: Database) -> None:
    async with client_for(settings_for(request_timeout_seconds=0.2), sqlite) as client:
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": "{ slow(seconds: 30) }"})
        elapsed = time.perf_counter() - started
        body = response.json()
        assert codes(body) == ["TIMEOUT"]
        assert body["errors"][0]["extensions"]["limit"] == {"name": "requestTimeoutSeconds", "value": 0.2}
        assert elapsed < CANCELLED_WELL_BEFORE_THE_SLEEP
        # The next request on the same app is unaffected.
        assert (await client.post("/graphql", json={"query": "{ slow(seconds: 0) }"})).json()["data"]


async def test_slow_sql_is_cancelled_without_leaving_a_connection_behind(database: Database) -> None:
    """PostgreSQL: both the statement timeout and the deadline cancel a running statement on the server, and
    the pool gets its connection back. SQLite cannot run a slow statement on demand; there the deadline is
    shown to cancel a slow resolver instead."""
    if database.dialect != "postgresql":
        async with client_for(settings_for(request_timeout_seconds=0.2), database) as client:
            body = (await client.post("/graphql", json={"query": "{ slow(seconds: 30) }"})).json()
            assert codes(body) == ["TIMEOUT"]
        return
    url = database.engine.url.render_as_string(hide_password=False)
    slow_statements = Database.from_url(url, pool_size=2, statement_timeout_ms=200)
    try:
        async with client_for(settings_for(request_timeout_seconds=30), slow_statements) as client:
            started = time.perf_counter()
            body = (await client.post("/graphql", json={"query": "{ sleepInDatabase(seconds: 20) }"})).json()
            assert codes(body) == ["TIMEOUT"]
            assert "cancelled" in body["errors"][0]["message"]
            assert time.perf_counter() - started < CANCELLED_WELL_BEFORE_THE_SLEEP
    finally:
        await slow_statements.dispose()

    no_statement_timeout = Database.from_url(url, pool_size=2)
    try:
        async with client_for(settings_for(request_timeout_seconds=0.3), no_statement_timeout) as client:
            started = time.perf_counter()
            body = (await client.post("/graphql", json={"query": "{ sleepInDatabase(seconds: 20) }"})).json()
            assert codes(body) == ["TIMEOUT"]
            assert time.perf_counter() - started < CANCELLED_WELL_BEFORE_THE_SLEEP
            pool = no_statement_timeout.engine.sync_engine.pool
            assert isinstance(pool, QueuePool) and pool.checkedout() == 0
            # The server is not still sleeping on our behalf.
            await asyncio.sleep(0.2)
            async with no_statement_timeout.read() as session:
                running = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
                        " AND state = 'active' AND datname = current_database()"
                    )
                )
            assert running == 0
            assert (await client.post("/graphql", json={"query": "{ hello }"})).json()["data"] == {"hello": "world"}
    finally:
        await no_statement_timeout.dispose()


async def test_the_statement_counter_counts_queries_not_transaction_control(database: Database) -> None:
    """The same count on both backends (SQLite's explicit BEGIN is not counted); nested counts add up."""
    statement_counter.install(database.engine)
    with statement_counter.counting() as outer:
        async with database.read() as session:
            await session.execute(text("SELECT 1"))
        with statement_counter.counting() as inner:
            async with database.write() as session:
                await session.execute(text("SELECT 2"))
                await session.execute(text("SELECT 3"))
    assert (outer.statements, inner.statements) == (3, 2)
    async with database.read() as session:  # outside any count: not counted anywhere
        await session.execute(text("SELECT 4"))
    assert outer.statements == 3
    assert statement_counter.current() is None


async def test_the_real_schema_runs_behind_the_same_stack(sqlite: Database) -> None:
    app_settings = settings_for(env="production")
    app = create_app(app_settings, sqlite, authenticator=TestAuthenticator())  # type: ignore[arg-type]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=as_caller("tester")
        ) as client,
    ):
        body = (await client.post("/graphql", json={"query": "{ __typename }"})).json()
        assert body["data"] == {"__typename": "Query"}
        assert body["extensions"]["cost"]["requested"] == 1
        bad_page = (await client.post("/graphql", json={"query": "{ tenants(first: 0) { totalCount } }"})).json()
        assert codes(bad_page) == ["BAD_USER_INPUT"]
        refused = (await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})).json()
        assert set(codes(refused)) == {"GRAPHQL_VALIDATION_FAILED"}
