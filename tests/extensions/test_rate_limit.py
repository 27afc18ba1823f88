"""Token buckets on cost points, per principal: in this process, and in Redis shared by several limiters.

The Redis cases run when DPOR_TEST_REDIS_URL is set (CI sets it); then an unreachable Redis fails the run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from db import statement_counter
from db.engine import Database
from gateway.ratelimit import Bucket, create_rate_limiter
from gateway.ratelimit.memory import MemoryRateLimiter
from gateway.settings import SettingsError
from resolvers.rate_limiter import RateLimiter
from tests.hardening_support import as_caller, client_for, codes, settings_for, sqlite_database

REDIS_URL_VARIABLE = "DPOR_TEST_REDIS_URL"


def limiter_backends() -> list[str]:
    return ["memory", "redis"] if os.environ.get(REDIS_URL_VARIABLE) else ["memory"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_bucket_refills_at_capacity_per_window() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(Bucket(capacity=100, window_seconds=100), clock=clock)
    assert (await limiter.consume("k", 60)).allowed
    refused = await limiter.consume("k", 60)
    assert not refused.allowed
    assert refused.remaining == 40  # a refused operation takes nothing
    assert refused.retry_after == pytest.approx(20.0)  # 20 points missing at 1 point per second
    clock.now += 20
    allowed = await limiter.consume("k", 60)
    assert allowed.allowed and allowed.remaining == pytest.approx(0.0)
    clock.now += 1_000
    assert (await limiter.consume("k", 0)).remaining == 100  # never above capacity


async def test_buckets_are_per_key_and_bounded() -> None:
    limiter = MemoryRateLimiter(Bucket(capacity=10, window_seconds=10), clock=Clock(), max_buckets=2)
    assert (await limiter.consume("a", 10)).allowed
    assert (await limiter.consume("b", 10)).allowed
    assert not (await limiter.consume("a", 1)).allowed
    await limiter.consume("c", 1)  # evicts the least recently used bucket ("b")
    assert len(limiter.states) == 2 and "b" not in limiter.states


@pytest.fixture(params=limiter_backends())
async def shared_limiters(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two limiters standing for two gateway processes."""
    bucket = Bucket(capacity=100, window_seconds=3_600)
    if request.param == "memory":
        one = MemoryRateLimiter(bucket)
        yield one, one
        return
    url = os.environ[REDIS_URL_VARIABLE]
    probe = aioredis.Redis.from_url(url)
    try:
        await probe.ping()  # unreachable: the fixture errors, the run fails
    finally:
        await probe.aclose()
    first, second = create_rate_limiter(bucket, url), create_rate_limiter(bucket, url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_limiters_share_one_budget(shared_limiters: tuple[RateLimiter, RateLimiter]) -> None:
    first, second = shared_limiters
    key = f"test:{uuid.uuid4().hex}"
    assert (await first.consume(key, 70)).allowed
    refused = await second.consume(key, 70)
    assert not refused.allowed
    assert refused.remaining == pytest.approx(30, abs=0.5)
    assert refused.retry_after == pytest.approx(40 * 36, rel=0.01)  # 40 points at 100 per hour
    assert (await second.consume(key, 30)).allowed


async def test_concurrent_takes_never_overspend(shared_limiters: tuple[RateLimiter, RateLimiter]) -> None:
    first, second = shared_limiters
    key = f"test:{uuid.uuid4().hex}"
    decisions = await asyncio.gather(*(limiter.consume(key, 10) for limiter in [first, second] * 10))
    assert sum(decision.allowed for decision in decisions) == 10


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = sqlite_database(tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


QUERY = {"query": "{ items(first: 9) { totalCount } }"}  # costs 10


@pytest.mark.parametrize("backend", limiter_backends())
async def test_an_exhausted_budget_answers_429_with_retry_after(database: Database, backend: str) -> None:
    redis_url = os.environ[REDIS_URL_VARIABLE] if backend == "redis" else None
    settings = settings_for(rate_limit_points=25, max_cost=25, rate_limit_window_seconds=3_600, redis_url=redis_url)
    alice, bob = f"alice-{uuid.uuid4().hex}", f"bob-{uuid.uuid4().hex}"  # fresh buckets in a shared Redis
    async with client_for(settings, database) as client:
        for _ in range(2):
            assert (await client.post("/graphql", json=QUERY, headers=as_caller(alice))).status_code == 200
        with statement_counter.counting() as count:
            refused = await client.post("/graphql", json=QUERY, headers=as_caller(alice))
        assert refused.status_code == 429
        body = refused.json()
        assert codes(body) == ["RATE_LIMITED"]
        # 5 points left, 10 needed: 5 points at 25 per hour is 720 s.
        assert refused.headers["retry-after"] == "720"
        assert body["errors"][0]["extensions"]["retryAfter"] == 720
        assert body["extensions"]["cost"]["throttle"] == {
            "status": "THROTTLED",
            "limit": 25,
            "remaining": 5,
            "retryAfter": 720,
        }
        assert count.statements == 0
        # Another principal, or the same subject through another client, has a budget of its own.
        other = await client.post("/graphql", json=QUERY, headers=as_caller(bob))
        assert other.status_code == 200
        other_client = await client.post("/graphql", json=QUERY, headers=as_caller(alice, "cli"))
        assert other_client.status_code == 200


async def test_a_batch_partly_refused_answers_200(database: Database) -> None:
    settings = settings_for(rate_limit_points=15, max_cost=15, batching=True)
    async with client_for(settings, database) as client:
        response = await client.post("/graphql", json=[QUERY, QUERY], headers=as_caller("carol"))
        assert response.status_code == 200
        assert sorted(code for entry in response.json() for code in codes(entry)) == ["RATE_LIMITED"]
        assert response.headers["retry-after"]
        refused = await client.post("/graphql", json=[QUERY, QUERY], headers=as_caller("carol"))
        assert refused.status_code == 429


async def test_rate_limiting_can_be_turned_off(database: Database) -> None:
    async with client_for(settings_for(rate_limit_enabled=False, rate_limit_points=1), database) as client:
        body = (await client.post("/graphql", json=QUERY)).json()
        assert body["extensions"]["cost"]["throttle"] == {"status": "OK"}


def test_a_maximum_cost_beyond_the_budget_is_a_settings_error() -> None:
    # The message names the setting to change, as a single field's error does.
    with pytest.raises(SettingsError, match=r"^invalid setting DPOR_RATE_LIMIT_POINTS: 50 is below DPOR_MAX_COST"):
        settings_for(max_cost=100, rate_limit_points=50)
    assert settings_for(max_cost=100, rate_limit_points=50, rate_limit_enabled=False).max_cost == 100
